// The template designer: drag an element of the preview to move it, its corner to resize it,
// click it to edit it. Positions go to the server in canvas pixels; the designer is redrawn
// from the server's answer (htmx), so the page never holds a layout of its own.
(function () {
  "use strict";

  var drag = null;

  function builder() { return document.querySelector("#builder .builder"); }

  function geometry(id) {
    var b = builder();
    return b ? b.querySelector('.builder-geometry [data-el="' + id + '"]') : null;
  }

  function scale() {
    var b = builder();
    var canvas = b && b.querySelector(".tpl-canvas");
    if (!canvas) return 1;
    return canvas.getBoundingClientRect().width / parseInt(b.dataset.width, 10);
  }

  function send(method, path, values) {
    var b = builder();
    htmx.ajax(method, path, { source: b, target: "#builder", values: values || {} });
  }

  function markSelected() {
    var b = builder();
    if (!b) return;
    var picked = b.querySelector(".builder-geometry [data-selected]");
    if (!picked) return;
    var el = b.querySelector('.builder-preview .tpl-canvas [data-el="' + picked.dataset.el + '"]');
    if (!el || el.querySelector(".builder-handle")) return;
    el.classList.add("is-selected");
    var handle = document.createElement("span");
    handle.className = "builder-handle";
    handle.setAttribute("aria-hidden", "true");
    el.appendChild(handle);
  }

  document.addEventListener("pointerdown", function (event) {
    var el = event.target.closest && event.target.closest(".builder-preview .tpl-canvas [data-el]");
    var g = el && geometry(el.dataset.el);
    if (!g) return;
    event.preventDefault();
    el.setPointerCapture(event.pointerId);
    drag = {
      el: el, id: el.dataset.el, resize: event.target.classList.contains("builder-handle"),
      x0: event.clientX, y0: event.clientY, moved: false, g: g, k: scale()
    };
  });

  // A logo is an <img>: the browser's own image dragging would take the pointer away.
  document.addEventListener("dragstart", function (event) {
    if (event.target.closest && event.target.closest(".builder-preview")) event.preventDefault();
  });
  document.addEventListener("pointercancel", function () {
    if (drag) drag.el.classList.remove("is-dragging");
    drag = null;
  });

  document.addEventListener("pointermove", function (event) {
    if (!drag) return;
    var dx = event.clientX - drag.x0, dy = event.clientY - drag.y0;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (!drag.moved) return;
    drag.el.classList.add("is-dragging");
    if (drag.resize) {
      // CSSOM, not a style attribute: the CSP allows this.
      drag.el.style.width = (parseInt(drag.g.dataset.w, 10) * drag.k + dx) + "px";
      drag.el.style.height = (parseInt(drag.g.dataset.h, 10) * drag.k + dy) + "px";
    } else {
      drag.el.style.transform = "translate(" + dx + "px," + dy + "px)";
    }
  });

  document.addEventListener("pointerup", function (event) {
    if (!drag) return;
    var d = drag;
    drag = null;
    var b = builder();
    var base = "/templates/" + b.dataset.template;
    if (!d.moved) {
      send("GET", base + "?element=" + encodeURIComponent(d.id));
      return;
    }
    var dx = Math.round((event.clientX - d.x0) / d.k), dy = Math.round((event.clientY - d.y0) / d.k);
    var values = d.resize
      ? { w: Math.max(10, parseInt(d.g.dataset.w, 10) + dx), h: Math.max(10, parseInt(d.g.dataset.h, 10) + dy) }
      : { x: parseInt(d.g.dataset.x, 10) + dx, y: parseInt(d.g.dataset.y, 10) + dy };
    send("POST", base + "/elements/" + encodeURIComponent(d.id), values);
  });

  // Arrow keys nudge the selected element (Shift: by 10).
  document.addEventListener("keydown", function (event) {
    var keys = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    var step = keys[event.key];
    var b = builder();
    if (!step || !b || /input|textarea|select/i.test(event.target.tagName)) return;
    var g = b.querySelector(".builder-geometry [data-selected]");
    if (!g) return;
    event.preventDefault();
    var k = event.shiftKey ? 10 : 1;
    send("POST", "/templates/" + b.dataset.template + "/elements/" + encodeURIComponent(g.dataset.el), {
      x: parseInt(g.dataset.x, 10) + step[0] * k, y: parseInt(g.dataset.y, 10) + step[1] * k
    });
  });

  document.addEventListener("DOMContentLoaded", markSelected);
  document.addEventListener("htmx:afterSettle", markSelected);
})();
