/* The seller's desk (SPEC §19.4 /seller): a form that carries data-confirm-title (withdraw a listing, accept an
 * offer) first opens the shared confirm dialog (Exchange.confirm, confirm.js); OK submits it, cancel or Esc
 * does nothing. Without JavaScript the form posts as it is. */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirmTitle) return;
    if (form.dataset.confirmed === "1") return;
    event.preventDefault();
    var opener = event.submitter || form.querySelector("button");
    window.Exchange.confirm({
      title: form.dataset.confirmTitle,
      lines: [form.dataset.confirmBody || ""],
      ok: form.dataset.confirmOk,
      returnFocus: opener
    }).then(function (ok) {
      if (!ok) return;
      form.dataset.confirmed = "1";
      form.submit();
    });
  });
})();
