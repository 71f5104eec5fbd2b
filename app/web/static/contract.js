/* The contract page's sign button (SPEC §19.4, §19.1): the form posts the SHA-256 shown with the page's hidden
 * CSRF token; before it does, the confirm dialog says what signing means, with the price in figures and the
 * hash signed. Cancel or Esc sends nothing; OK submits the form once. */
(function () {
  "use strict";

  function install() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form || !form.hasAttribute || !form.hasAttribute("data-sign-form")) return;
      event.preventDefault();
      var button = form.querySelector("[data-testid=sign-button]");
      if (!button || button.disabled) return;
      var hash = form.querySelector("input[name=sha256]").value;
      window.Exchange.confirm({
        title: "确认签署合同",
        lines: [
          "签署方：" + form.getAttribute("data-party"),
          "成交价：" + window.Exchange.money(form.getAttribute("data-price")),
          "合同 SHA-256：" + hash,
          "签署后不可撤回。"
        ],
        ok: "确认签署",
        returnFocus: button
      }).then(function (ok) {
        if (!ok) return;
        button.disabled = true;
        form.submit();  // a programmatic submit fires no submit event: the dialog is not shown again
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", install);
  else install();
})();
