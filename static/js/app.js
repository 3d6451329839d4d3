// Small behaviours that need no inline script (the Content-Security-Policy forbids it).
(function () {
  "use strict";
  var baseTitle = document.title;

  function showUnreadInTitle() {
    var badge = document.getElementById("notification-badge");
    var count = badge ? parseInt(badge.dataset.count || "0", 10) : 0;
    // On the desk, ringing offers count too: the tab shows them when it is in the background.
    count += document.querySelectorAll("[data-offer]").length;
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

  document.addEventListener("DOMContentLoaded", function () {
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
  });
  document.addEventListener("htmx:afterSwap", function () {
    showUnreadInTitle();
    tick();
  });
})();
