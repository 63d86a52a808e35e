// Display screens: the connection badge and a bounded recent list, driven by htmx events.
// A file rather than hx-on attributes, because the Content-Security-Policy forbids eval.
(function () {
  "use strict";
  var RECENT_KEPT = 10;

  function screenOf(event) {
    var el = event.target;
    return el && el.closest ? el.closest("#screen") : null;
  }

  function setLink(event, state) {
    var screen = screenOf(event);
    if (screen) screen.dataset.link = state;
  }

  // Polled screens: every finished request says whether the server answered.
  document.addEventListener("htmx:afterRequest", function (event) {
    setLink(event, event.detail.successful ? "live" : "lost");
  });
  // Streaming screens: the SSE extension reports the connection's state.
  document.addEventListener("htmx:sseOpen", function (event) { setLink(event, "live"); });
  document.addEventListener("htmx:sseError", function (event) { setLink(event, "lost"); });
  // A screen left on for hours stays small: trim the recent list after each message.
  document.addEventListener("htmx:sseMessage", function (event) {
    var screen = screenOf(event);
    if (!screen) return;
    screen.querySelectorAll("#recent > li:nth-child(n+" + (RECENT_KEPT + 1) + ")")
      .forEach(function (li) { li.remove(); });
  });
})();
