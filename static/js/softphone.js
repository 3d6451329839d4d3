/* The desk's softphone: one interface, two transports.
 *
 * The server says which (GET data-token-url): "twilio" gives an access token for the Twilio
 * Voice SDK (vendored, loaded only then): the browser registers as client:<username>, rings on
 * incoming legs, accepts, rejects, mutes, hangs up, and dials numbers through the TwiML App.
 * "simulated" (the demo's numbers): nothing reaches a provider; the page polls the built-in
 * simulator (data-state-url), which rings the agent's client:<username> leg here until it is
 * answered, declined or hung up (data-action-url), and dials through the desk (data-dial-url).
 * Every text comes from the template's data-t-* attributes (translated there).
 */
(function () {
  "use strict";

  var root = document.getElementById("softphone");
  if (!root || root.dataset.started) return;
  root.dataset.started = "1";

  var statusEl = root.querySelector(".softphone-status");
  var peerEl = root.querySelector(".softphone-peer");
  var dialForm = root.querySelector('[data-phone="dial"]');
  var csrfInput = root.querySelector("input[name=csrfmiddlewaretoken]");
  var csrf = csrfInput ? csrfInput.value : "";
  var BUTTONS = ["register", "accept", "reject", "mute", "hangup"];
  var POLL_MS = 1500;

  var mode = null;
  var device = null;
  var twCall = null;
  var simCall = null;
  var muted = false;
  var endedUntil = 0;

  function t(key) {
    return root.dataset["t" + key] || "";
  }

  function button(name) {
    return root.querySelector('[data-phone="' + name + '"]');
  }

  function show(names) {
    BUTTONS.forEach(function (name) {
      button(name).hidden = names.indexOf(name) < 0;
    });
    var mute = button("mute");
    mute.setAttribute("aria-pressed", muted ? "true" : "false");
  }

  function setStatus(text, state) {
    statusEl.textContent = text;
    root.dataset.state = state;
  }

  function setPeer(text) {
    peerEl.textContent = text || "";
    peerEl.hidden = !text;
  }

  function getJson(url) {
    return fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}}).then(
      function (response) {
        return response.json().then(function (json) {
          return {ok: response.ok, json: json};
        });
      }
    );
  }

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": csrf, Accept: "application/json"},
      body: body || null,
    }).then(function (response) {
      return response.json().then(function (json) {
        return {ok: response.ok, json: json};
      });
    });
  }

  function failed(detail) {
    setStatus(t("Error") + " " + (detail || ""), "error");
    show(["register"]);
  }

  function start() {
    setStatus(t("Registering"), "registering");
    show([]);
    getJson(root.dataset.tokenUrl)
      .then(function (result) {
        if (!result.ok && ["agent", "plan", "no_number"].indexOf(result.json.code) >= 0) {
          root.hidden = true; // no phone here (not an agent, or no voice number): nothing to show
          return;
        }
        if (!result.ok) return failed(result.json.detail);
        mode = result.json.mode;
        if (mode === "simulated") {
          setStatus(t("Simulated"), "ready");
          poll();
        } else {
          startTwilio(result.json.token);
        }
      })
      .catch(function (error) {
        failed(String(error));
      });
  }

  // --- Simulated line ---------------------------------------------------------------------

  function poll() {
    getJson(root.dataset.stateUrl)
      .then(function (result) {
        if (result.ok) renderSimulated(result.json.call);
      })
      .catch(function () {})
      .then(function () {
        window.setTimeout(poll, POLL_MS);
      });
  }

  function renderSimulated(call) {
    var had = simCall;
    simCall = call;
    if (!call) {
      if (had) {
        muted = false;
        endedUntil = Date.now() + 3000;
        setStatus(t("Ended"), "ended");
      } else if (Date.now() > endedUntil && root.dataset.state !== "ready") {
        setStatus(t("Simulated"), "ready");
      }
      setPeer("");
      show([]);
      return;
    }
    if (call.status === "ringing") {
      setStatus(t("Ringing"), "ringing");
      setPeer(t("From") + " " + call.from);
      show(["accept", "reject"]);
      return;
    }
    setStatus(muted ? t("Muted") : t("OnCall"), "on-call");
    setPeer(call.peers.length ? t("With") + " " + call.peers.join(", ") : "");
    show(["mute", "hangup"]);
  }

  function simulatedAction(action) {
    if (!simCall) return;
    var url = root.dataset.actionUrl
      .replace("/0/", "/" + simCall.id + "/")
      .replace("ACTION", action);
    postJson(url).then(function (result) {
      if (result.ok) renderSimulated(result.json.call || null);
    });
  }

  // --- Twilio Voice SDK -------------------------------------------------------------------

  function loadSdk(then) {
    if (window.Twilio && window.Twilio.Device) return then();
    var script = document.createElement("script");
    script.src = root.dataset.sdkUrl;
    script.onload = then;
    script.onerror = function () {
      failed("SDK");
    };
    document.head.appendChild(script);
  }

  function startTwilio(token) {
    loadSdk(function () {
      device = new window.Twilio.Device(token, {closeProtection: true});
      device.on("registered", function () {
        setStatus(t("Ready"), "ready");
        show([]);
      });
      device.on("unregistered", function () {
        setStatus(t("Offline"), "offline");
        show(["register"]);
      });
      device.on("error", function (error) {
        failed(error && error.message ? error.message : String(error));
      });
      device.on("tokenWillExpire", function () {
        getJson(root.dataset.tokenUrl).then(function (result) {
          if (result.ok && result.json.token) device.updateToken(result.json.token);
        });
      });
      device.on("incoming", function (call) {
        twCall = call;
        bindCall(call);
        setStatus(t("Ringing"), "ringing");
        setPeer(t("From") + " " + ((call.parameters && call.parameters.From) || ""));
        show(["accept", "reject"]);
      });
      device.register();
    });
  }

  function bindCall(call) {
    call.on("accept", function () {
      setStatus(t("OnCall"), "on-call");
      show(["mute", "hangup"]);
    });
    call.on("mute", function (isMuted) {
      muted = isMuted;
      setStatus(muted ? t("Muted") : t("OnCall"), "on-call");
      show(["mute", "hangup"]);
    });
    ["disconnect", "cancel", "reject"].forEach(function (name) {
      call.on(name, function () {
        twCall = null;
        muted = false;
        setStatus(t("Ended"), "ended");
        setPeer("");
        show([]);
      });
    });
  }

  // --- Buttons ----------------------------------------------------------------------------

  root.addEventListener("click", function (event) {
    var target = event.target.closest("button[data-phone]");
    if (!target) return;
    var action = target.dataset.phone;
    if (action === "register") return start();
    if (mode === "simulated") {
      if (action === "accept") simulatedAction("answer");
      if (action === "reject") simulatedAction("reject");
      if (action === "hangup") simulatedAction("hangup");
      if (action === "mute") {
        muted = !muted; // the simulated line has no audio: the state is shown only
        renderSimulated(simCall);
      }
      return;
    }
    if (!twCall) return;
    if (action === "accept") twCall.accept();
    if (action === "reject") twCall.reject();
    if (action === "hangup") twCall.disconnect();
    if (action === "mute") twCall.mute(!twCall.isMuted());
  });

  dialForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var number = dialForm.elements.number.value.trim();
    if (!number) return;
    if (mode === "twilio" && device) {
      setStatus(t("Calling"), "calling");
      setPeer(number);
      device.connect({params: {To: number}}).then(function (call) {
        twCall = call;
        bindCall(call);
        show(["mute", "hangup"]);
      });
      return;
    }
    var body = new FormData(dialForm);
    postJson(root.dataset.dialUrl, body).then(function (result) {
      if (result.ok && result.json.url) {
        window.location.assign(result.json.url);
      } else {
        endedUntil = Date.now() + 6000; // leave the reason on screen a while
        setStatus(t("Error") + " " + (result.json.detail || ""), "error");
      }
    });
  });

  start();
})();
