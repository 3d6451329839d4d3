// Small behaviours that need no inline script (the Content-Security-Policy forbids it).
(function () {
  "use strict";
  var baseTitle = document.title;

  function showUnreadInTitle() {
    var badge = document.getElementById("notification-badge");
    var count = badge ? parseInt(badge.dataset.count || "0", 10) : 0;
    document.title = count > 0 ? "(" + count + ") " + baseTitle : baseTitle;
  }

  function expireToasts() {
    document.querySelectorAll(".toast:not([data-timer])").forEach(function (toast) {
      toast.dataset.timer = "1";
      setTimeout(function () { toast.remove(); }, 8000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    showUnreadInTitle();
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    showUnreadInTitle();
    expireToasts();
  });
})();
