// Progressive enhancement for the Panjereh portal; every page works without it.
// 1. Numeric fields: Persian (۰-۹) and Arabic-Indic (٠-٩) digits become ASCII as they are typed
//    (the server accepts both; this only keeps what is shown consistent with what is checked).
// 2. A form is sent once: its submit button is disabled after the first submit.
"use strict";
(function () {
  function asciiDigits(s) {
    return s.replace(/[\u06F0-\u06F9]/g, function (d) { return String(d.charCodeAt(0) - 0x06F0); })
            .replace(/[\u0660-\u0669]/g, function (d) { return String(d.charCodeAt(0) - 0x0660); });
  }
  document.addEventListener("input", function (e) {
    var el = e.target;
    if (!el || !el.hasAttribute || !el.hasAttribute("data-digits")) return;
    var v = asciiDigits(el.value);
    if (v !== el.value) {
      var pos = el.selectionStart;
      el.value = v;
      if (pos !== null) el.setSelectionRange(pos, pos);
    }
  });
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.getAttribute("method") !== "post") return;
    if (form.dataset.sent) { e.preventDefault(); return; }
    form.dataset.sent = "1";
    var button = form.querySelector("button[type=submit]");
    if (button) button.setAttribute("aria-disabled", "true");
  });
  var alert = document.getElementById("alert");
  if (alert) alert.focus();
})();
