// Small behaviours that need no inline script (the Content-Security-Policy forbids it).
(function () {
  "use strict";
  var baseTitle = document.title;

  function showUnreadInTitle() {
    var badge = document.getElementById("notification-badge");
    var count = badge ? parseInt(badge.dataset.count || "0", 10) : 0;
    // On the desk, ringing offers count too: the tab shows them when it is in the background.
    count += document.querySelectorAll("[data-offer], [data-invitation]").length;
    document.title = count > 0 ? "(" + count + ") " + baseTitle : baseTitle;
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s % 60);
  }

  // Offer countdowns (data-expires) and time in state (data-since), once a second; an
  // interaction past its queue's SLA (data-sla, seconds) gets the "late" class.
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-expires]").forEach(function (el) {
      var left = (Date.parse(el.dataset.expires) - now) / 1000;
      el.textContent = left > 0 ? Math.ceil(left) + " s" : "0 s";
      el.classList.toggle("urgent", left <= 5);
    });
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.since);
      if (isNaN(since)) { return; }
      var elapsed = (now - since) / 1000;
      el.textContent = clock(elapsed);
      if (el.dataset.sla) { el.classList.toggle("late", elapsed > parseInt(el.dataset.sla, 10)); }
    });
  }

  function expireToasts() {
    document.querySelectorAll(".toast:not([data-timer])").forEach(function (toast) {
      toast.dataset.timer = "1";
      setTimeout(function () { toast.remove(); }, 8000);
    });
  }

  // Desk: a short tone when an offer appears that this page has not shown yet (if the agent
  // turned it on; the choice is kept in this browser).
  var seenOffers = null;
  var audio = null;

  function ring() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.15;
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.25);
    } catch (e) { /* no audio: the title badge still shows it */ }
  }

  function checkNewOffers() {
    var ringing = document.querySelectorAll("[data-offer], [data-invitation]");
    var ids = Array.prototype.map.call(ringing, function (el) {
      return el.dataset.offer ? "o" + el.dataset.offer : "i" + el.dataset.invitation;
    });
    var toggle = document.getElementById("desk-sound");
    if (seenOffers !== null && toggle && toggle.checked) {
      if (ids.some(function (id) { return seenOffers.indexOf(id) < 0; })) { ring(); }
    }
    seenOffers = ids;
  }

  function setUpDesk() {
    var toggle = document.getElementById("desk-sound");
    if (toggle) {
      try {
        toggle.checked = window.localStorage.getItem("cc.desk.sound") === "1";
        toggle.addEventListener("change", function () {
          window.localStorage.setItem("cc.desk.sound", toggle.checked ? "1" : "0");
        });
      } catch (e) { /* storage refused: the toggle lasts as long as the page */ }
    }
    checkNewOffers();
  }

  // Desk shortcuts, outside text fields and without modifiers (the list is on the page,
  // "?" opens it): a/d answer what rings first, j/k walk the conversations in hand, r and n
  // go to the reply and the internal note.
  function typing(target) {
    var tag = target.tagName;
    return target.isContentEditable || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  function clickFirst(selector) {
    var button = document.querySelector(selector);
    if (button) { button.click(); return true; }
    return false;
  }

  function walkInHand(step) {
    var links = Array.prototype.slice.call(document.querySelectorAll("[data-testid=in-hand] a"));
    if (!links.length) { return false; }
    var at = links.indexOf(document.activeElement);
    links[(at + step + links.length) % links.length].focus();
    return true;
  }

  function focusField(id) {
    var field = document.getElementById(id);
    if (field) { field.focus(); return true; }
    return false;
  }

  var shortcuts = {
    a: function () { return clickFirst(".offers [data-testid=accept], .offers [data-testid=join]"); },
    d: function () {
      return clickFirst(".offers [data-testid=decline], .offers [data-testid=decline-invitation]");
    },
    j: function () { return walkInHand(1); },
    k: function () { return walkInHand(-1); },
    r: function () { return focusField("reply-body"); },
    n: function () { return focusField("note-body"); },
    "?": function () {
      var help = document.getElementById("desk-shortcuts");
      if (help) { help.open = !help.open; }
      return !!help;
    }
  };

  document.addEventListener("keydown", function (event) {
    // Ctrl+Enter (⌘+Enter) in the reply box sends it.
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.id === "reply-body") {
      event.preventDefault();
      if (event.target.form) { event.target.form.requestSubmit(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var action = shortcuts[event.key];
    if (action && document.querySelector(".desk") && action()) { event.preventDefault(); }
  });

  // Web chat: "the visitor is typing…" fades after a few seconds without news; the agent's
  // typing in the composer is told to the visitor's widget (at most every 3 s).
  var typingTimer = null;
  function fadeVisitorTyping() {
    var el = document.getElementById("visitor-typing");
    if (!el || !el.dataset.typingShown) { return; }
    delete el.dataset.typingShown;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () {
      var now = document.getElementById("visitor-typing");
      if (now) { now.textContent = ""; }
    }, 5000);
  }

  var lastTypingSent = 0;
  document.addEventListener("input", function (event) {
    if (event.target.id !== "reply-body") { return; }
    var form = event.target.form;
    var url = form && form.dataset.typingUrl;
    if (!url || Date.now() - lastTypingSent < 3000) { return; }
    lastTypingSent = Date.now();
    var csrf = form.querySelector("input[name=csrfmiddlewaretoken]");
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": csrf ? csrf.value : ""}
    }).catch(function () { /* best effort: typing is a hint */ });
  });

  document.addEventListener("DOMContentLoaded", function () {
    setUpDesk();
    showUnreadInTitle();
    tick();
    setInterval(tick, 1000);
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    showUnreadInTitle();
    expireToasts();
    tick();
    checkNewOffers();
    fadeVisitorTyping();
  });
  document.addEventListener("htmx:afterSwap", function () {
    showUnreadInTitle();
    tick();
  });
})();
