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

  // Race clocks of a template: time since the gun (the board's data-gun, in seconds), or the
  // time of day before there is one.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tickClocks() {
    var canvas = document.querySelector("#screen .tpl-canvas");
    if (!canvas) return;
    var clocks = canvas.querySelectorAll(".race-clock");
    if (!clocks.length) return;
    // The newest runner's gun (a gun fired after the board was drawn), else the board's.
    var runner = canvas.querySelector(".tpl-runner[data-gun]");
    var gun = parseInt((runner && runner.dataset.gun) || canvas.dataset.gun || "", 10);
    var now = Date.now() / 1000, text;
    if (gun && now >= gun) {
      var s = Math.floor(now - gun);
      text = Math.floor(s / 3600) + ":" + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
    } else {
      var d = new Date();
      text = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    }
    Array.prototype.forEach.call(clocks, function (c) { c.textContent = text; });
  }
  setInterval(tickClocks, 1000);
  document.addEventListener("DOMContentLoaded", tickClocks);

  // Messages (#messages, refreshed by htmx): a template's ticker elements get a copy of the
  // ticker line; full-screen messages take the screen one at a time, for their data-seconds,
  // once the same runner has been up for the display's dwell time. A runner ends them at once.
  var lastRunner = Date.now(), showing = null, showUntil = 0, nextMessage = 0;

  function copyTicker() {
    var slot = document.querySelector("#messages .message-ticker");
    Array.prototype.forEach.call(document.querySelectorAll("#screen .tpl-ticker"), function (box) {
      box.textContent = "";
      if (slot) box.appendChild(slot.cloneNode(true));
    });
  }

  function hideMessage() {
    if (showing) showing.classList.remove("is-showing");
    showing = null;
  }

  function tickMessages() {
    var screen = document.getElementById("screen");
    if (!screen) return;
    var now = Date.now();
    if (showing && now < showUntil) return;
    hideMessage();
    var list = screen.querySelectorAll("#messages .message-fullscreen");
    var dwell = parseFloat(screen.dataset.dwell || "5000") || 5000;  // milliseconds
    if (!list.length || now - lastRunner < dwell || now < showUntil + dwell) return;
    showing = list[nextMessage % list.length];
    nextMessage += 1;
    showing.classList.add("is-showing");
    showUntil = now + (parseFloat(showing.dataset.seconds || "5") || 5) * 1000;
  }
  setInterval(tickMessages, 500);

  // A message scheduled to start or end: fetch the messages again when that time comes.
  var dueTimer = null;
  function scheduleDue(slot) {
    var root = slot.querySelector("[data-next-change]");
    if (dueTimer) clearTimeout(dueTimer);
    dueTimer = null;
    if (!root) return;
    var wait = Date.parse(root.dataset.nextChange) - Date.now();
    if (isNaN(wait)) return;
    dueTimer = setTimeout(function () { htmx.trigger(slot, "messages-due"); },
                          Math.min(Math.max(wait, 0) + 500, 2147483000));
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "messages") {
      copyTicker();
      scheduleDue(event.target);
    }
    if (event.target && event.target.id === "board") copyTicker();
  });

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
    if (event.detail && (event.detail.type === "runner" || event.detail.type === "board")) {
      lastRunner = Date.now();
      hideMessage();
      if (event.detail.type === "board") copyTicker();
    }
    placeIncoming(screen);
    applyPlaces(screen);
    var current = screen.querySelector("#current");
    if (current) {
      current.classList.toggle("is-group", current.querySelectorAll("article.runner").length > 1);
    }
  });
})();
