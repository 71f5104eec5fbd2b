/* The confirm dialog of consequential actions and the amount format (SPEC §19.1), shared by the pages.
 *
 * Exchange.money(value): "¥1,250,000.00" from integer fen or an API amount string ("1250000.00"), "—" for none;
 * the same output as the server's ``money`` filter (app/web/templating.py), tested against the same cases.
 * Exchange.confirm({title, lines, ok}): opens the modal ``confirm-dialog`` with ``confirm-ok`` focused; resolves
 * true on OK, false on cancel or Esc. Focus stays inside while it is open and returns to the opener after.
 * Exchange.confirmNote(text): a note in the open dialog (the room's 价格已变化).
 *
 * A page form with ``data-confirm-title`` (and ``data-confirm-lines``, a JSON list of lines, and optionally
 * ``data-confirm-ok`` and ``data-confirm-amount``, the name of a field whose amount the dialog shows) is posted
 * only after the dialog's OK; without JavaScript it posts at once. A page script that handles the submit
 * itself (preventDefault in a listener on the document) keeps it.
 */
(function () {
  "use strict";

  var AMOUNT = /^(-?)([0-9]+)(?:\.([0-9]{1,2}))?$/;

  function money(value) {
    if (value === null || value === undefined || value === "") return "—";
    var fen;
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) throw new TypeError("not an amount: " + value);
      fen = value;
    } else {
      var found = AMOUNT.exec(String(value).trim());
      if (!found) throw new TypeError("not an amount: " + value);
      var cents = ((found[3] || "") + "00").slice(0, 2);
      fen = Number(found[2]) * 100 + Number(cents);
      if (found[1] && fen !== 0) fen = -fen;
    }
    var sign = fen < 0 ? "-" : "";
    var abs = Math.abs(fen);
    var whole = String(Math.floor(abs / 100)).replace(/\B(?=([0-9]{3})+(?![0-9]))/g, ",");
    var rest = String(abs % 100);
    return sign + "¥" + whole + "." + (rest.length < 2 ? "0" + rest : rest);
  }

  var FOCUSABLE = "button:not([disabled]), [href], input:not([disabled]), select, textarea, [tabindex]:not([tabindex='-1'])";

  function parts() {
    var dialog = document.getElementById("confirm-dialog");
    return {
      dialog: dialog,
      title: dialog.querySelector("[data-confirm-title]"),
      body: dialog.querySelector("[data-confirm-body]"),
      note: dialog.querySelector("[data-confirm-note]"),
      ok: dialog.querySelector("[data-testid=confirm-ok]"),
      cancel: dialog.querySelector("[data-testid=confirm-cancel]")
    };
  }

  var pending = null;

  function finish(result) {
    if (!pending) return;
    var done = pending;
    pending = null;
    var p = parts();
    if (p.dialog.open) p.dialog.close();
    if (done.opener && typeof done.opener.focus === "function") done.opener.focus();
    done.resolve(result);
  }

  function trap(event) {
    if (event.key !== "Tab") return;
    var items = Array.prototype.slice.call(parts().dialog.querySelectorAll(FOCUSABLE));
    if (!items.length) return;
    var first = items[0], last = items[items.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  }

  function install() {
    var p = parts();
    if (!p.dialog || p.dialog.dataset.ready) return;
    p.dialog.dataset.ready = "1";
    p.ok.addEventListener("click", function (event) { event.preventDefault(); finish(true); });
    p.cancel.addEventListener("click", function (event) { event.preventDefault(); finish(false); });
    p.dialog.addEventListener("cancel", function (event) { event.preventDefault(); finish(false); });
    p.dialog.addEventListener("keydown", trap);
  }

  function confirm(options) {
    install();
    if (pending) finish(false);
    var p = parts();
    p.title.textContent = options.title || "请确认";
    p.body.textContent = "";
    (options.lines || []).forEach(function (line) {
      var para = document.createElement("p");
      para.textContent = line;
      p.body.appendChild(para);
    });
    p.note.textContent = "";
    p.ok.textContent = options.ok || "确定";
    return new Promise(function (resolve) {
      pending = { resolve: resolve, opener: options.returnFocus || document.activeElement };
      p.dialog.showModal();
      p.ok.focus();
    });
  }

  function confirmNote(text) {
    var p = parts();
    if (p.dialog && p.dialog.open) p.note.textContent = text;
  }

  var AMOUNT_TYPED = /^([0-9]{1,12})(?:\.([0-9]{1,2}))?$/;

  // An amount as typed (``¥1,250,000``, ``1250000.5``) in the API's form (``1250000.00``), or null.
  function typedAmount(text) {
    var found = AMOUNT_TYPED.exec(String(text).replace(/[¥￥,，\s]/g, ""));
    if (!found) return null;
    return found[1].replace(/^0+(?=[0-9])/, "") + "." + ((found[2] || "") + "00").slice(0, 2);
  }

  function confirmForm(event) {
    var form = event.target;
    if (event.defaultPrevented) return;  // a page's own script confirmed or handled it
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm-title")) return;
    var lines = [];
    try { lines = JSON.parse(form.getAttribute("data-confirm-lines") || "[]"); } catch (e) { lines = []; }
    var field = form.getAttribute("data-confirm-amount");
    if (field && form.elements[field]) {
      var amount = typedAmount(form.elements[field].value);
      if (amount === null || amount === "0.00") return;  // posted as typed: the server says what is wrong
      var label = form.querySelector("label[for='" + form.elements[field].id + "']");
      lines = lines.concat([(label ? label.textContent.replace(/（元）$/, "") : "金额") + "：" + money(amount)]);
    }
    event.preventDefault();
    var submitter = event.submitter || form.querySelector("[type=submit]");
    confirm({
      title: form.getAttribute("data-confirm-title"),
      lines: lines,
      ok: form.getAttribute("data-confirm-ok") || undefined,
      returnFocus: submitter
    }).then(function (ok) {
      if (!ok) return;
      if (submitter) submitter.disabled = true;  // posted once
      form.submit();
    });
  }
  // On the window, so it runs after the listeners of the document (a page's own script) have had their turn.
  window.addEventListener("submit", confirmForm);

  window.Exchange = { money: money, confirm: confirm, confirmNote: confirmNote, confirmOpen: function () { return pending !== null; } };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", install);
  else install();
})();
