// The wallboard's full-screen button (the Fullscreen API; no inline script under the CSP).
// The board inside is swapped live; the full-screen element around it stays.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-fullscreen]");
    if (!button) { return; }
    var screen = document.getElementById(button.dataset.fullscreen);
    if (!screen || !screen.requestFullscreen) { return; }
    if (document.fullscreenElement) {
      document.exitFullscreen();
    } else {
      screen.requestFullscreen().catch(function () { /* refused: the page stays as it is */ });
    }
  });
})();
