/* The dashboard's pay button (SPEC §19.4): the confirm dialog shows the amount due, then
 * POST /api/v1/deals/{id}/pay with the page's CSRF token as X-CSRF-Token and an Idempotency-Key (reused by a
 * retry after a network error, so one payment is made). The row and the account are updated in place. */
(function () {
  "use strict";

  var MESSAGES = {
    insufficient_funds: "账户可用余额不足",
    csrf_failed: "页面已过期，请刷新页面",
    invalid_state: "交易状态已变化，请刷新页面",
    not_found: "交易不存在",
    idempotency_in_progress: "付款处理中，请稍候"
  };
  var EXPIRED = "登录已过期，请重新登录";
  var NETWORK = "网络异常，请刷新页面查看付款状态";

  function csrf() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.getAttribute("content") : null;
  }
  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }
  function headers(extra) {
    var h = { Accept: "application/json" };
    var token = csrf();
    if (token) h["X-CSRF-Token"] = token;
    Object.keys(extra || {}).forEach(function (k) { h[k] = extra[k]; });
    return h;
  }

  var retry = {};  // deal id → the key of a payment whose answer was lost

  function say(text, code) {
    var box = document.querySelector("[data-testid=pay-message]");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
    box.setAttribute("role", code ? "alert" : "status");
    box.className = code ? "alert" : "";
    if (code) box.setAttribute("data-code", code);
    else box.removeAttribute("data-code");
  }

  function refreshAccount() {
    var panel = document.querySelector("[data-org-id]");
    if (!panel) return;
    fetch("/api/v1/organizations/" + panel.getAttribute("data-org-id") + "/account", {
      headers: headers(), credentials: "same-origin"
    }).then(function (r) {
      if (!r.ok) return;
      return r.json().then(function (account) {
        panel.querySelector("[data-testid=account-available]").textContent = window.Exchange.money(account.available);
        panel.querySelector("[data-testid=account-held]").textContent = window.Exchange.money(account.held);
      });
    }).catch(function () { return null; });
  }

  function pay(button) {
    var id = button.getAttribute("data-deal-id");
    var due = button.getAttribute("data-amount-due");
    window.Exchange.confirm({
      title: "确认付款",
      lines: ["应付金额：" + window.Exchange.money(due), "确认后将从账户可用余额中扣付。"],
      ok: "确认付款",
      returnFocus: button
    }).then(function (ok) {
      if (!ok) return;
      var key = retry[id] || newKey();
      retry[id] = key;
      button.disabled = true;
      return fetch("/api/v1/deals/" + id + "/pay", {
        method: "POST", credentials: "same-origin", headers: headers({ "Idempotency-Key": key })
      }).then(function (r) {
        delete retry[id];
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (r.ok) {
            var row = button.closest("[data-testid=deal-row]");
            var status = row && row.querySelector("[data-deal-status]");
            if (status) status.textContent = "已付款";
            button.remove();
            say("付款成功", null);
            refreshAccount();
            return;
          }
          button.disabled = false;
          if (r.status === 401) {
            say(EXPIRED, body.code || "unauthorized");
            return;
          }
          var code = body.code || "http_" + r.status;
          say(MESSAGES[code] || body.detail || "付款失败", code);
        });
      }, function () {
        button.disabled = false;
        say(NETWORK, "network_error");
      });
    });
  }

  function install() {
    document.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("[data-testid=pay-button]") : null;
      if (button && !button.disabled) {
        event.preventDefault();
        pay(button);
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", install);
  else install();
})();
