/* The dashboard's actions (SPEC §19.4). Pay: the confirm dialog shows the amount due, then
 * POST /api/v1/deals/{id}/pay. Withdraw a registration: the dialog shows the deposit to be refunded, then
 * POST /api/v1/registrations/{id}/withdraw. Accept, reject or withdraw an open offer: the dialog shows its
 * price, then POST /api/v1/offers/{id}/{accept|reject|withdraw} (an acceptance reloads the page for its deal); a counter posts the amount typed beside it and reloads.
 * Each sends the page's CSRF token as X-CSRF-Token and an
 * Idempotency-Key (reused by a retry after a network error, so the action is done once); the row and the
 * account are updated in place, a refusal reads in Chinese with role=alert and data-code. The buttons are
 * rendered disabled (``data-scripted``) and enabled here, so none is clickable before it works. */
(function () {
  "use strict";

  // A refusal reads in Chinese by its problem code (never the API's English detail); another code reads as
  // the action's failure with the code.
  var MESSAGES = {
    insufficient_funds: "账户可用余额不足",
    csrf_failed: "页面已过期，请刷新页面",
    invalid_state: "状态已变化，请刷新页面",
    not_found: "未找到该对象，请刷新页面",
    forbidden: "您的账户不能进行此操作",
    organization_not_verified: "您的机构尚未通过认证",
    offer_expired: "报价已过期",
    offer_already_open: "该报价已有待答复的还价，请刷新页面",
    validation_error: "输入有误，请检查后重试",
    rate_limited: "操作过于频繁，请稍后再试",
    idempotency_in_progress: "正在处理，请稍候"
  };
  var EXPIRED = "登录已过期，请重新登录";
  var NETWORK = "网络异常，请刷新页面查看结果";

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

  var retry = {};  // action URL → the key of a request whose answer was lost (a retry reuses it)

  function say(testid, text, code) {
    var box = document.querySelector("[data-testid=" + testid + "]");
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

  // A consequential action: the dialog first, then one POST with the CSRF header and an Idempotency-Key.
  function act(button, action) {
    window.Exchange.confirm({
      title: action.title, lines: action.lines, ok: action.ok, returnFocus: button
    }).then(function (ok) {
      if (!ok) return;
      var key = retry[action.url] || newKey();
      retry[action.url] = key;
      button.disabled = true;
      var extra = { "Idempotency-Key": key };
      if (action.body) extra["Content-Type"] = "application/json";
      return fetch(action.url, {
        method: "POST", credentials: "same-origin", headers: headers(extra),
        body: action.body ? JSON.stringify(action.body) : undefined
      }).then(function (r) {
        delete retry[action.url];
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (r.ok) {
            action.done(body);
            button.remove();
            say(action.message, action.success, null);
            refreshAccount();
            return;
          }
          button.disabled = false;
          if (r.status === 401) {
            say(action.message, EXPIRED, body.code || "unauthorized");
            return;
          }
          var code = body.code || "http_" + r.status;
          say(action.message, MESSAGES[code] || action.failed + "（" + code + "）", code);
        });
      }, function () {
        button.disabled = false;
        say(action.message, NETWORK, "network_error");
      });
    });
  }

  function pay(button) {
    var row = button.closest("[data-testid=deal-row]");
    act(button, {
      url: "/api/v1/deals/" + button.getAttribute("data-deal-id") + "/pay",
      title: "确认付款",
      lines: ["应付金额：" + window.Exchange.money(button.getAttribute("data-amount-due")), "确认后将从账户可用余额中扣付。"],
      ok: "确认付款",
      message: "pay-message",
      success: "付款成功",
      failed: "付款失败",
      done: function () {
        var status = row && row.querySelector("[data-deal-status]");
        if (status) status.textContent = "已付款";
      }
    });
  }

  function withdraw(button) {
    var row = button.closest("[data-testid=registration-row]");
    var deposit = window.Exchange.money(button.getAttribute("data-deposit"));
    act(button, {
      url: "/api/v1/registrations/" + button.getAttribute("data-registration-id") + "/withdraw",
      title: "确认撤回报名",
      lines: ["项目：" + button.getAttribute("data-title"), "撤回后保证金 " + deposit + " 退回账户可用余额，且不能再次报名。"],
      ok: "确认撤回",
      message: "withdraw-message",
      success: "已撤回报名",
      failed: "撤回失败",
      done: function () {
        var status = row && row.querySelector("[data-registration-status]");
        if (status) status.textContent = "已撤回";
        var held = row && row.querySelector("[data-registration-deposit]");
        if (held) held.textContent = deposit + "（已退还）";
        var listed = document.querySelector("[data-testid=held-deposit][data-listing-id='" + row.getAttribute("data-listing-id") + "']");
        if (listed) listed.remove();
      }
    });
  }

  var OFFER_ACTIONS = {
    "offer-accept": { verb: "accept", title: "确认接受报价", ok: "确认接受", done: "已接受", note: "接受后即成交，生成交易与合同。" },
    "offer-reject": { verb: "reject", title: "确认拒绝报价", ok: "确认拒绝", done: "已拒绝", note: "拒绝后此报价结束。" },
    "offer-withdraw": { verb: "withdraw", title: "确认撤回报价", ok: "确认撤回", done: "已撤回", note: "撤回后此报价结束。" }
  };

  function answerOffer(button, kind) {
    var row = button.closest("[data-testid=offer-row]");
    act(button, {
      url: "/api/v1/offers/" + button.getAttribute("data-offer-id") + "/" + kind.verb,
      title: kind.title,
      lines: ["项目：" + button.getAttribute("data-title"), "报价：" + window.Exchange.money(button.getAttribute("data-price")), kind.note],
      ok: kind.ok,
      message: "offer-message",
      success: kind.done,
      failed: "操作失败",
      done: function () {
        var status = row && row.querySelector("[data-offer-status]");
        if (status) status.textContent = kind.done;
        if (row) Array.prototype.forEach.call(row.querySelectorAll("button"), function (b) { if (b !== button) b.remove(); });
        if (kind.verb === "accept") window.location.reload();  // the new deal's row
      }
    });
  }

  // An amount as typed (``¥1,250,000``, ``1250000.5``) in the API's form (``1250000.00``), or null.
  function apiAmount(text) {
    var found = /^([0-9]{1,12})(?:\.([0-9]{1,2}))?$/.exec(String(text).replace(/[¥￥,，\s]/g, ""));
    if (!found) return null;
    return found[1].replace(/^0+(?=[0-9])/, "") + "." + ((found[2] || "") + "00").slice(0, 2);
  }

  function counterOffer(button) {
    var row = button.closest("[data-testid=offer-row]");
    var input = row.querySelector("[data-testid=offer-counter-amount]");
    var price = apiAmount(input.value);
    if (price === null || price === "0.00") {
      say("offer-message", "请输入还价金额，如 1250000.00", "invalid_amount");
      input.focus();
      return;
    }
    act(button, {
      url: "/api/v1/offers/" + button.getAttribute("data-offer-id") + "/counter",
      body: { price: price },
      title: "确认还价",
      lines: ["项目：" + button.getAttribute("data-title"), "对方报价：" + window.Exchange.money(button.getAttribute("data-price")), "我方还价：" + window.Exchange.money(price)],
      ok: "确认还价",
      message: "offer-message",
      success: "已还价",
      failed: "还价失败",
      done: function () { window.location.reload(); }  // the thread's new latest move
    });
  }

  function install() {
    // Rendered disabled: a click made before this script has run would do nothing.
    Array.prototype.forEach.call(document.querySelectorAll("button[data-scripted]"), function (b) { b.disabled = false; });
    document.addEventListener("click", function (event) {
      if (!event.target.closest) return;
      var button = event.target.closest("[data-testid=pay-button], [data-testid=withdraw-button], [data-testid^=offer-]");
      if (!button || button.disabled || button.tagName !== "BUTTON") return;
      var testid = button.getAttribute("data-testid");
      event.preventDefault();
      if (testid === "pay-button") pay(button);
      else if (testid === "withdraw-button") withdraw(button);
      else if (testid === "offer-counter") counterOffer(button);
      else if (OFFER_ACTIONS[testid]) answerOffer(button, OFFER_ACTIONS[testid]);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", install);
  else install();
})();
