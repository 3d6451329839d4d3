/* The contact center's chat widget: one script tag on any site.
 *
 *   <script src="https://HOST/widget/KEY.js" async></script>
 *   (or <script src="https://HOST/static/webchat/widget.js" data-key="KEY" async></script>)
 *
 * Vanilla JS, no dependency. Everything it draws lives in a Shadow DOM (the site's CSS and
 * ours do not meet). Text from anyone is rendered with textContent, never as HTML. The
 * visitor's token (a random secret) and the messages not yet acknowledged are kept in
 * localStorage: a reload or a lost connection resumes the same conversation and nothing
 * typed is lost (the server stores a resent message once).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__ccWebchatLoaded) { return; }
  window.__ccWebchatLoaded = true;
  var src = new URL(script.src, document.baseURI);
  var match = src.pathname.match(/\/widget\/([0-9a-fA-F-]{36})\.js$/);
  var key = script.getAttribute("data-key") || (match && match[1]);
  if (!key) { return; }
  var base = src.origin;
  var api = base + "/widget/" + key + "/";
  var socketUrl = base.replace(/^http/, "ws") + "/ws/visitor/" + key + "/";
  var storeKey = "cc.webchat." + key;

  var config = null;
  var strings = {};
  var socket = null;
  var retry = 0;
  var shown = {};        // message id -> element
  var receipted = {};    // message id -> "delivered" | "read"
  var lastTyping = 0;
  var typingTimer = null;
  var ended = false;

  // --- Storage ---------------------------------------------------------------------------
  function load() {
    try { return JSON.parse(window.localStorage.getItem(storeKey) || "{}") || {}; }
    catch (e) { return {}; }
  }
  var store = load();
  store.outbox = store.outbox || [];
  function save() {
    try { window.localStorage.setItem(storeKey, JSON.stringify(store)); } catch (e) { /* private mode */ }
  }
  function randomId(bytes) {
    var data = new Uint8Array(bytes);
    window.crypto.getRandomValues(data);
    var text = "";
    for (var i = 0; i < data.length; i++) { text += String.fromCharCode(data[i]); }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function t(name, values) {
    var text = strings[name] || name;
    Object.keys(values || {}).forEach(function (k) { text = text.split("%(" + k + ")s").join(values[k]); });
    return text;
  }

  // --- HTTP --------------------------------------------------------------------------------
  function request(method, path, body, isForm) {
    var headers = {};
    if (store.token) { headers["X-Visitor-Token"] = store.token; }
    if (body && !isForm) { headers["Content-Type"] = "application/json"; }
    return fetch(api + path, {
      method: method,
      headers: headers,
      body: body ? (isForm ? body : JSON.stringify(body)) : undefined,
      credentials: "omit",
      mode: "cors"
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.detail || t("error"));
          error.code = data.code;
          error.errors = data.errors || {};
          throw error;
        }
        return data;
      });
    });
  }

  // --- Drawing -----------------------------------------------------------------------------
  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:14px}",
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:24px;",
    "padding:12px 18px;background:var(--accent);color:#fff;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.25)}",
    ".panel{position:fixed;right:20px;bottom:76px;z-index:2147483000;width:340px;max-width:calc(100vw - 40px);",
    "height:480px;max-height:calc(100vh - 100px);display:flex;flex-direction:column;background:#fff;color:#1b1b1b;",
    "border-radius:10px;box-shadow:0 4px 24px rgba(0,0,0,.25);overflow:hidden}",
    ".panel[hidden]{display:none}",
    "header{display:flex;justify-content:space-between;align-items:center;padding:10px 12px;background:var(--accent);color:#fff}",
    "header strong{font-size:15px}header button{background:none;border:0;color:#fff;cursor:pointer;font-size:18px}",
    ".body{flex:1;overflow:auto;padding:10px 12px;display:flex;flex-direction:column;gap:8px}",
    "form{display:flex;flex-direction:column;gap:6px}label{font-size:12px;color:#555}",
    "input,textarea{width:100%;padding:7px;border:1px solid #bbb;border-radius:6px;background:#fff;color:#1b1b1b}",
    "button.primary{padding:8px 12px;border:0;border-radius:6px;background:var(--accent);color:#fff;cursor:pointer}",
    "button.link{background:none;border:0;color:var(--accent);cursor:pointer;padding:4px 0;text-align:left}",
    ".status,.notice{font-size:12px;color:#555}.error{font-size:12px;color:#b42318}",
    "ol{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:6px}",
    "li{max-width:85%;padding:7px 9px;border-radius:8px;background:#f0f2f5;white-space:pre-wrap;word-wrap:break-word;align-self:flex-start}",
    "li.mine{align-self:flex-end;background:var(--accent);color:#fff}li.mine a{color:#fff}",
    "li .who{display:block;font-size:11px;opacity:.75}li .meta{display:block;font-size:10px;opacity:.75;text-align:right}",
    "li.failed{background:#fde8e8;color:#b42318}",
    ".typing{min-height:16px;font-size:12px;font-style:italic;color:#555;padding:0 12px}",
    ".composer{display:flex;flex-direction:row;gap:6px;padding:8px 12px;border-top:1px solid #ddd;align-items:flex-end}",
    ".composer textarea{flex:1;resize:none;height:40px}",
    ".composer label.file{cursor:pointer;color:#555;padding:8px 2px}.composer label.file svg{width:18px;height:18px;display:block}",
    ".composer input[type=file]{display:none}",
    ".modes{display:flex;gap:10px}.modes label{font-size:13px;color:#1b1b1b}.modes input{width:auto}",
    ".choices{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}",
    ".choices button{padding:5px 10px;border:1px solid var(--accent);border-radius:14px;background:#fff;color:var(--accent);cursor:pointer}",
    ".choices button:disabled{opacity:.5;cursor:default}"
  ].join("");

  var host = document.createElement("div");
  host.setAttribute("data-cc-webchat", key);
  var root = host.attachShadow({mode: "open"});
  var ui = {};

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function clipIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5");
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "1.8");
    path.setAttribute("stroke-linecap", "round");
    svg.appendChild(path);
    return svg;
  }

  function field(form, name, type, required) {
    var id = "cc-" + name;
    var label = el("label", {"for": id}, t(name) + (required ? " *" : ""));
    var input = type === "textarea" ? el("textarea", {id: id, name: name, rows: "3"}) : el("input", {id: id, name: name, type: type});
    if (required) { input.required = true; }
    if (name === "message" || name === "subject") { input.maxLength = name === "message" ? config.max_chars : 200; }
    form.appendChild(label);
    form.appendChild(input);
    return input;
  }

  function build() {
    var style = el("style");
    style.textContent = CSS;
    root.appendChild(style);
    var color = /^#[0-9a-fA-F]{3,8}$/.test(config.color || "") ? config.color : "#1f6feb";
    host.style.setProperty("--accent", color);
    ui.launcher = el("button", {"class": "launcher", type: "button", "data-testid": "webchat-launcher", "aria-expanded": "false"}, t("open"));
    ui.panel = el("section", {"class": "panel", role: "dialog", "aria-label": config.title, "data-testid": "webchat-panel"});
    ui.panel.hidden = true;
    var header = el("header");
    header.appendChild(el("strong", {}, config.title));
    var close = el("button", {type: "button", "aria-label": t("close")}, "×");
    header.appendChild(close);
    ui.body = el("div", {"class": "body"});
    ui.panel.appendChild(header);
    ui.panel.appendChild(ui.body);
    root.appendChild(ui.launcher);
    root.appendChild(ui.panel);
    ui.launcher.addEventListener("click", function () { toggle(ui.panel.hidden); });
    close.addEventListener("click", function () { toggle(false); });
    document.body.appendChild(host);
  }

  function toggle(open) {
    ui.panel.hidden = !open;
    ui.launcher.setAttribute("aria-expanded", open ? "true" : "false");
    store.open = open;
    save();
    if (open) { sendReceipts(); }
  }

  function clear() {
    while (ui.body.firstChild) { ui.body.removeChild(ui.body.firstChild); }
    var old = ui.panel.querySelectorAll(".composer, .typing");
    Array.prototype.forEach.call(old, function (node) { node.remove(); });
  }

  function showErrors(form, error) {
    var box = form.querySelector(".error") || form.appendChild(el("p", {"class": "error", role: "alert"}));
    box.textContent = error.message;
  }

  // --- Pre-chat and offline forms ------------------------------------------------------------
  function showPrechat() {
    clear();
    ended = false;
    if (config.greeting) { ui.body.appendChild(el("p", {"class": "notice"}, config.greeting)); }
    var form = el("form", {"data-testid": "webchat-prechat", novalidate: ""});
    config.fields.forEach(function (name) {
      field(form, name, name === "email" ? "email" : "text", config.required.indexOf(name) >= 0);
    });
    field(form, "message", "textarea", false);
    var submit = el("button", {"class": "primary", type: "submit", "data-testid": "webchat-start"}, t("start"));
    form.appendChild(submit);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit.disabled = true;
      if (!store.token) { store.token = randomId(32); save(); }
      var data = {page: window.location.href, language: navigator.language || ""};
      ["name", "email", "subject", "message"].forEach(function (n) {
        if (form.elements[n]) { data[n] = form.elements[n].value; }
      });
      request("POST", "start/", data).then(function (history) {
        showChat(history);
        connect();
      }).catch(function (error) {
        submit.disabled = false;
        if (error.code === "closed") { config.open = false; showOffline(); return; }
        showErrors(form, error);
      });
    });
    ui.body.appendChild(form);
  }

  function showOffline(notice) {
    clear();
    ui.body.appendChild(el("p", {"class": "notice"}, config.offline_message || t("offline")));
    if (notice) { ui.body.appendChild(el("p", {"class": "notice", role: "status"}, notice)); return; }
    var form = el("form", {"data-testid": "webchat-offline", novalidate: ""});
    var modes = el("div", {"class": "modes"});
    [["message", t("leave_message")], ["callback", t("callback")]].forEach(function (mode, i) {
      var label = el("label");
      var radio = el("input", {type: "radio", name: "mode", value: mode[0]});
      radio.checked = i === 0;
      label.appendChild(radio);
      label.appendChild(document.createTextNode(" " + mode[1]));
      modes.appendChild(label);
    });
    form.appendChild(modes);
    field(form, "name", "text", false);
    var email = field(form, "email", "email", true);
    var message = field(form, "message", "textarea", true);
    var phone = field(form, "phone", "tel", true);
    var at = field(form, "at", "datetime-local", true);
    function sync() {
      var callback = form.elements.mode.value === "callback";
      [message].forEach(function (n) { n.previousSibling.hidden = callback; n.hidden = callback; });
      [phone, at].forEach(function (n) { n.previousSibling.hidden = !callback; n.hidden = !callback; });
      email.required = !callback;
      email.previousSibling.textContent = t("email") + (callback ? "" : " *");
    }
    form.addEventListener("change", sync);
    sync();
    var submit = el("button", {"class": "primary", type: "submit", "data-testid": "webchat-offline-send"}, t("send"));
    form.appendChild(submit);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var mode = form.elements.mode.value;
      var data = {mode: mode, name: form.elements.name.value, email: email.value};
      if (mode === "callback") {
        data.phone = phone.value;
        var when = at.value ? new Date(at.value) : null;  // the browser's own time zone
        data.at = when && !isNaN(when) ? when.toISOString() : "";
      } else {
        data.message = message.value;
      }
      submit.disabled = true;
      request("POST", "offline/", data).then(function () {
        showOffline(mode === "callback" ? t("callback_set") : t("message_left"));
      }).catch(function (error) { submit.disabled = false; showErrors(form, error); });
    });
    ui.body.appendChild(form);
  }

  // --- The conversation ----------------------------------------------------------------------
  function showChat(history) {
    clear();
    shown = {};
    ui.transcript = null;
    ui.status = el("p", {"class": "status", role: "status", "data-testid": "webchat-status"});
    ui.thread = el("ol", {"data-testid": "webchat-thread", "aria-live": "polite"});
    ui.body.appendChild(ui.status);
    ui.body.appendChild(ui.thread);
    if (history.email) {
      var transcript = el("button", {"class": "link", type: "button", "data-testid": "webchat-transcript"}, t("transcript"));
      transcript.addEventListener("click", function () { sendTranscript(transcript); });
      ui.body.insertBefore(transcript, ui.thread);
      ui.transcript = transcript;
    }
    ui.typing = el("p", {"class": "typing", "data-testid": "webchat-typing"});
    ui.panel.appendChild(ui.typing);
    var composer = el("form", {"class": "composer"});
    ui.input = el("textarea", {"aria-label": t("message"), placeholder: t("placeholder"), "data-testid": "webchat-input"});
    ui.input.maxLength = config.max_chars;
    var fileLabel = el("label", {"class": "file", title: t("attach")});
    fileLabel.appendChild(clipIcon());
    var file = el("input", {type: "file", "aria-label": t("attach"), "data-testid": "webchat-file"});
    fileLabel.appendChild(file);
    var send = el("button", {"class": "primary", type: "submit", "data-testid": "webchat-send"}, t("send"));
    composer.appendChild(ui.input);
    composer.appendChild(fileLabel);
    composer.appendChild(send);
    ui.composer = composer;
    ui.panel.appendChild(composer);
    composer.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = ui.input.value.trim();
      if (!body) { return; }
      ui.input.value = "";
      queueMessage(body);
    });
    ui.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); composer.requestSubmit(); }
    });
    ui.input.addEventListener("input", function () {
      if (Date.now() - lastTyping > 2000 && socket && socket.readyState === 1) {
        lastTyping = Date.now();
        socket.send(JSON.stringify({type: "typing"}));
      }
    });
    file.addEventListener("change", function () {
      if (!file.files.length) { return; }
      var form = new FormData();
      form.append("file", file.files[0]);
      request("POST", "upload/", form, true).then(function (data) {
        addMessage(data.message);
      }).catch(function (error) { notice(error.message, true); });
      file.value = "";
    });
    (history.messages || []).forEach(addMessage);
    store.outbox.forEach(function (item) { drawPending(item); });
    setStatus(history.status || {});
  }

  function notice(text, isError) {
    var p = el("p", {"class": isError ? "error" : "notice", role: isError ? "alert" : "status"}, text);
    ui.body.appendChild(p);
    ui.body.scrollTop = ui.body.scrollHeight;
  }

  function bubble(message) {
    var li = el("li", {"class": message.mine ? "mine" : "theirs", "data-id": message.id || ""});
    if (!message.mine && message.author) { li.appendChild(el("span", {"class": "who"}, message.author)); }
    if (message.body) { li.appendChild(document.createTextNode(message.body)); }
    (message.files || []).forEach(function (f) {
      var a = el("a", {href: base + f.url, target: "_blank", rel: "noopener"}, f.name);
      li.appendChild(el("br"));
      li.appendChild(a);
    });
    if (!message.mine && message.buttons && message.buttons.length) {
      // A self-service flow's choices: a click answers with the choice's id (its title
      // is what the thread shows). Only the latest question's buttons stay clickable.
      var choices = el("div", {"class": "choices", "data-testid": "webchat-choices"});
      message.buttons.forEach(function (b) {
        var button = el("button", {type: "button", "data-choice": b.id, "data-testid": "webchat-choice"}, b.title);
        button.addEventListener("click", function () { queueMessage(b.title, b.id); });
        choices.appendChild(button);
      });
      li.appendChild(choices);
    }
    var meta = el("span", {"class": "meta"});
    li.appendChild(meta);
    return li;
  }

  function disableChoices() {
    if (!ui.thread) { return; }
    Array.prototype.forEach.call(ui.thread.querySelectorAll(".choices button"), function (b) { b.disabled = true; });
  }

  function addMessage(message) {
    if (!message || !ui.thread) { return; }
    if (shown[message.id]) { return; }  // a resend, a second tab, the history after a reconnect
    var pending = message.client_id && ui.thread.querySelector(byClient(message.client_id));
    if (!pending) { disableChoices(); }  // a newer line: earlier questions are answered
    var li = bubble(message);
    if (pending) { pending.replaceWith(li); } else { ui.thread.appendChild(li); }
    shown[message.id] = li;
    if (message.mine && message.client_id) { dropOutbox(message.client_id); }
    ui.body.scrollTop = ui.body.scrollHeight;
    if (!message.mine) {
      if (ui.typing) { ui.typing.textContent = ""; }  // what they typed has arrived
      if (message.status === "read") { receipted[message.id] = "read"; }
      else if (message.status === "delivered") { receipted[message.id] = receipted[message.id] || "delivered"; }
      sendReceipts();
    }
  }

  function byClient(clientId) {
    return "li[data-client=\"" + window.CSS.escape(String(clientId)) + "\"]";
  }

  function drawPending(item) {
    if (ui.thread.querySelector(byClient(item.client_id))) { return; }
    var li = bubble({mine: true, body: item.body});
    li.setAttribute("data-client", item.client_id);
    li.style.opacity = "0.6";
    ui.thread.appendChild(li);
    ui.body.scrollTop = ui.body.scrollHeight;
  }

  function dropOutbox(clientId) {
    store.outbox = store.outbox.filter(function (item) { return item.client_id !== clientId; });
    save();
  }

  function queueMessage(body, reply) {
    disableChoices();
    var item = {client_id: randomId(12), body: body};
    if (reply) { item.reply = reply; }
    store.outbox.push(item);
    save();
    drawPending(item);
    flush();
  }

  function flush() {
    if (!socket || socket.readyState !== 1) { return; }
    store.outbox.forEach(function (item) {
      socket.send(JSON.stringify({type: "message", body: item.body, client_id: item.client_id, reply: item.reply || ""}));
    });
  }

  function sendReceipts() {
    if (!socket || socket.readyState !== 1 || !ui.thread) { return; }
    var visible = !ui.panel.hidden && document.visibilityState === "visible";
    var delivered = [], read = [];
    Object.keys(shown).forEach(function (id) {
      var li = shown[id];
      if (li.classList.contains("mine")) { return; }
      var done = receipted[id];
      if (visible && done !== "read") { read.push(Number(id)); receipted[id] = "read"; }
      else if (!done) { delivered.push(Number(id)); receipted[id] = "delivered"; }
    });
    if (delivered.length) { socket.send(JSON.stringify({type: "receipt", status: "delivered", ids: delivered})); }
    if (read.length) { socket.send(JSON.stringify({type: "receipt", status: "read", ids: read})); }
  }
  document.addEventListener("visibilitychange", sendReceipts);

  function setStatus(status) {
    if (!ui.status) { return; }
    var text = "";
    if (status.state === "queued" && status.position) {
      text = t("waiting", {position: status.position});
      if (status.wait_seconds) { text += " " + t("wait", {minutes: Math.max(1, Math.round(status.wait_seconds / 60))}); }
    } else if (status.open && status.agent) {
      text = t("joined", {name: status.agent});
    } else if (status.state !== "none" && status.open === false) {
      showEnded();
      return;
    }
    ui.status.textContent = text;
  }

  function sendTranscript(button) {
    button.disabled = true;
    request("POST", "transcript/", {}).then(function (data) {
      notice(t("transcript_sent", {email: data.email}));
    }).catch(function (error) { button.disabled = false; notice(error.message, true); });
  }

  function showEnded() {
    if (ended) { return; }
    ended = true;
    ui.status.textContent = t("ended");
    if (ui.composer) { ui.composer.remove(); }
    if (ui.typing) { ui.typing.remove(); }
    var again = el("button", {"class": "link", type: "button", "data-testid": "webchat-new"}, t("new_chat"));
    again.addEventListener("click", function () {
      store.outbox = [];
      save();
      if (config.open) { showPrechat(); } else { showOffline(); }
    });
    if (ui.transcript) { ui.body.appendChild(ui.transcript); }  // now at the end of the thread
    ui.body.appendChild(again);
  }

  // --- The socket ----------------------------------------------------------------------------
  function connect() {
    if (!store.token || (socket && socket.readyState <= 1)) { return; }
    socket = new WebSocket(socketUrl + "?token=" + encodeURIComponent(store.token));
    socket.onopen = function () {
      var first = retry === 0;
      retry = 0;
      if (!first || !ui.thread) {
        // Back after a loss: the thread again from the server (duplicates are skipped).
        request("GET", "history/").then(function (history) {
          if (!ui.thread) { showChat(history); } else { (history.messages || []).forEach(addMessage); setStatus(history.status || {}); }
          flush();
        });
      } else {
        flush();
      }
      sendReceipts();
    };
    socket.onmessage = function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.type === "message") { addMessage(data.message); }
      else if (data.type === "ack") {
        // Stored: the bubble is final (a resend the server already had sends no new event).
        var mine = ui.thread && ui.thread.querySelector(byClient(data.client_id));
        if (mine && !shown[data.id]) {
          mine.style.opacity = "";
          mine.removeAttribute("data-client");
          mine.setAttribute("data-id", data.id);
          shown[data.id] = mine;
        } else if (mine) {
          mine.remove();
        }
        dropOutbox(data.client_id);
      }
      else if (data.type === "status") { setStatus(data); }
      else if (data.type === "typing" && ui.typing) {
        ui.typing.textContent = t("typing", {name: data.agent || ""});
        clearTimeout(typingTimer);
        typingTimer = setTimeout(function () { if (ui.typing) { ui.typing.textContent = ""; } }, 4000);
      } else if (data.type === "error") {
        if (data.client_id) {
          var li = ui.thread && ui.thread.querySelector(byClient(data.client_id));
          if (li) { li.classList.add("failed"); li.querySelector(".meta").textContent = t("not_sent"); }
          dropOutbox(data.client_id);
        }
        if (data.code === "ended") { showEnded(); } else { notice(data.detail, true); }
      }
    };
    socket.onclose = function (event) {
      socket = null;
      if (event.code === 4403 || event.code === 4404) { return; }  // refused: retrying cannot help
      if (ui.status && !ended) { ui.status.textContent = t("connecting"); }  // back soon
      retry += 1;
      setTimeout(connect, Math.min(15000, 1000 * Math.pow(2, retry - 1)));
    };
  }

  // --- Start ---------------------------------------------------------------------------------
  function start() {
    request("GET", "config/").then(function (data) {
      config = data;
      strings = data.strings || {};
      build();
      if (!store.token) {
        if (config.open) { showPrechat(); } else { showOffline(); }
        return;
      }
      request("GET", "history/").then(function (history) {
        if (!history.status || history.status.state === "none") {
          if (config.open) { showPrechat(); } else { showOffline(); }
          return;
        }
        showChat(history);
        if (history.status.open) { connect(); }
        if (store.open) { toggle(true); }
      }).catch(function () { showPrechat(); });
    }).catch(function () { /* unknown widget or refused origin: draw nothing */ });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
