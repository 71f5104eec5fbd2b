/* The operator's desks (SPEC §19.4, §19.1): a form that carries ``data-confirm-title`` (verify, approve,
 * qualify, uphold, dismiss, settle) first opens the confirm dialog with its lines (``data-confirm-lines``, a
 * JSON list of texts with amounts in figures); OK submits the form once, cancel or Esc leaves it unsent. The
 * forms are plain POST forms with the hidden csrf_token, so they work without this script too. */
(function () {
  "use strict";

  function lines(form) {
    try {
      var found = JSON.parse(form.getAttribute("data-confirm-lines") || "[]");
      return Array.isArray(found) ? found.filter(function (l) { return l; }).map(String) : [];
    } catch (e) {
      return [];
    }
  }

  function install() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form || !form.hasAttribute || !form.hasAttribute("data-confirm-title")) return;
      event.preventDefault();
      if (form.getAttribute("data-sending")) return;
      var button = form.querySelector("button[type=submit]");
      window.Exchange.confirm({
        title: form.getAttribute("data-confirm-title"),
        lines: lines(form),
        ok: form.getAttribute("data-confirm-ok") || "确定",
        returnFocus: button
      }).then(function (ok) {
        if (!ok) return;
        form.setAttribute("data-sending", "1");
        if (button) button.disabled = true;
        form.submit();
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", install);
  else install();
})();
