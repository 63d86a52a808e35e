// Display screens: the connection badge, and putting each live runner where it belongs.
// A file rather than hx-on attributes, because the Content-Security-Policy forbids eval.
//
// Live events drop list items into #incoming (each names its list and its position in read
// order, oldest first, as app.domain.display_pipeline computes them) and place updates into
// #places-sink; this script moves them into place and keeps each list to the board's size.
(function () {
  "use strict";

  function screenOf(event) {
    var el = event.target;
    return el && el.closest ? el.closest("#screen") : null;
  }

  function setLink(event, state) {
    var screen = screenOf(event);
    if (screen) screen.dataset.link = state;
  }

  function keep(board) {
    var size = parseInt(board.dataset.recentSize || "20", 10);
    return size > 0 ? size : 20;
  }

  function placeIncoming(screen) {
    var board = screen.querySelector("#board");
    var incoming = screen.querySelector("#incoming");
    if (!board || !incoming) return;
    var size = keep(board);
    Array.prototype.slice.call(incoming.children).forEach(function (item) {
      var list = screen.querySelector("#" + item.dataset.list);
      if (!list) { item.remove(); return; }
      var position = parseInt(item.dataset.position, 10) || 0;
      var before = list.children[position] || null;
      list.insertBefore(item, before);
      while (list.children.length > size) list.firstElementChild.remove();
      var section = list.closest("section");
      if (section) section.classList.remove("is-empty");
    });
  }

  function applyPlaces(screen) {
    var sink = screen.querySelector("#places-sink");
    if (!sink) return;
    Array.prototype.slice.call(sink.querySelectorAll("i[data-pid]")).forEach(function (change) {
      var shown = screen.querySelectorAll('[data-pid="' + change.dataset.pid + '"]');
      Array.prototype.forEach.call(shown, function (el) {
        ["overall", "gender", "age_group"].forEach(function (kind) {
          var value = change.dataset[kind];
          var cell = el.querySelector('[data-place="' + kind + '"]');
          if (cell && value) cell.textContent = value;
        });
      });
    });
    sink.textContent = "";
  }

  // Polled screens: every finished request says whether the server answered.
  document.addEventListener("htmx:afterRequest", function (event) {
    setLink(event, event.detail.successful ? "live" : "lost");
  });
  // Streaming screens: the SSE extension reports the connection's state.
  document.addEventListener("htmx:sseOpen", function (event) { setLink(event, "live"); });
  document.addEventListener("htmx:sseError", function (event) { setLink(event, "lost"); });
  // After each message is swapped in: runners into their lists, places updated.
  document.addEventListener("htmx:sseMessage", function (event) {
    var screen = screenOf(event);
    if (!screen) return;
    placeIncoming(screen);
    applyPlaces(screen);
    var current = screen.querySelector("#current");
    if (current) {
      current.classList.toggle("is-group", current.querySelectorAll("article.runner").length > 1);
    }
  });
})();
