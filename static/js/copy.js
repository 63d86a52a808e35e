// Copy buttons: <button data-copy="#field"> copies that field's value to the clipboard.
// A script file, not inline: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  function statusOf(button) {
    const row = button.closest(".address-row") || button.parentElement;
    return row ? row.querySelector(".copy-status") : null;
  }

  function say(button, text) {
    const status = statusOf(button);
    if (status) status.textContent = text;
  }

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    // Without this script the button would do nothing, so it starts hidden.
    button.hidden = false;
    button.addEventListener("click", function () {
      const field = document.querySelector(button.dataset.copy);
      if (!field) return;
      const text = "value" in field ? field.value : field.textContent;
      const selectIt = function () {
        if (field.select) field.select();
        say(button, "Selected: press Ctrl+C (⌘C) to copy.");
      };
      if (!navigator.clipboard || !window.isSecureContext) {
        selectIt();
        return;
      }
      navigator.clipboard.writeText(text).then(
        function () { say(button, "Copied."); },
        selectIt
      );
    });
  });
})();
