// The announcer view: the mat select applies itself, a tapped runner's card comes into view,
// and the runners the announcer ticks are kept in this tablet's localStorage and sent with
// every refresh of the lists (?follow=12,40), so the server can show them in "Following".
// A script file, not inline: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  var lists = document.getElementById("lists");
  if (!lists) return;
  var key = lists.dataset.followKey;
  var MAX = 100;

  function load() {
    try {
      var ids = JSON.parse(window.localStorage.getItem(key) || "[]");
      if (!Array.isArray(ids)) return [];
      return ids.map(String).filter(function (id) { return /^[0-9]{1,18}$/.test(id); }).slice(0, MAX);
    } catch (e) {
      return [];
    }
  }

  function save(ids) {
    try {
      window.localStorage.setItem(key, JSON.stringify(ids.slice(0, MAX)));
    } catch (e) {
      // Private browsing or a full store: the tick lasts until the page reloads.
    }
  }

  function paint(root) {
    var ids = load();
    root.querySelectorAll(".follow-toggle").forEach(function (button) {
      var on = ids.indexOf(button.dataset.pid) >= 0;
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? "Following" : "Follow";
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest(".follow-toggle") : null;
    if (!button) return;
    event.preventDefault();
    var ids = load();
    var at = ids.indexOf(button.dataset.pid);
    if (at >= 0) ids.splice(at, 1); else ids.push(button.dataset.pid);
    save(ids);
    paint(document);
    window.htmx.trigger(lists, "follow-changed");
  });

  document.body.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt === lists) event.detail.parameters.follow = load().join(",");
  });

  document.body.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    paint(target || document);
    if (target && target.id === "card") {
      var close = document.getElementById("card-close");
      if (close) close.hidden = !target.children.length;
      target.scrollIntoView({ block: "nearest" });
    }
  });

  var close = document.getElementById("card-close");
  if (close) {
    close.addEventListener("click", function () {
      var card = document.getElementById("card");
      if (card) card.replaceChildren();
      close.hidden = true;
    });
  }

  var mat = document.getElementById("mat");
  if (mat && mat.form) {
    var show = mat.form.querySelector(".mat-show");
    if (show) show.hidden = true;
    mat.addEventListener("change", function () { mat.form.submit(); });
  }

  paint(document);
  // The first paint knows only the event's VIPs: fetch the ticked runners straight away.
  if (load().length) window.htmx.trigger(lists, "follow-changed");
})();
