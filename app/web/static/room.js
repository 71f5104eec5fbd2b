/* The bidding room (SPEC §19.5): the auction's event stream, the countdown on the business clock, and the
 * English bid form with its confirm dialog. Page data comes in the room's data-* attributes (no inline script,
 * SPEC §19.1). Amounts are handled in integer fen. */
(function () {
  "use strict";

  var MESSAGES = {
    already_leading: "您已是当前最高出价者",
    auction_not_open: "当前不在报价时间内",
    already_bid: "您已提交过报价，一次报价不能修改",
    auction_closed: "竞价已结束（已被其他竞买人应价）",
    not_qualified: "您未取得本次竞价资格",
    insufficient_funds: "账户可用余额不足",
    idempotency_in_progress: "出价处理中，请稍候",
    csrf_failed: "页面已过期，请刷新页面",
    proxy_cannot_lower: "代理出价上限只能提高"
  };
  var EXPIRED = "登录已过期，请重新登录";
  var NETWORK = "网络异常，请以出价记录为准";
  var EVENTS = ["bid", "extended", "closed", "failed"];
  var FINAL = { closed: true, failed: true, cancelled: true };
  var HOUR = 3600, DAY = 86400, SHANGHAI_MS = 8 * 3600 * 1000;

  var root = document.querySelector("[data-testid=room]");
  if (!root) return;
  var money = window.Exchange.money;
  var d = root.dataset;
  var id = d.auctionId;

  function fen(value) {
    if (value === null || value === undefined || value === "") return null;
    if (typeof value === "number") return value;
    var m = /^([0-9]+)\.([0-9]{2})$/.exec(value);
    return m ? Number(m[1]) * 100 + Number(m[2]) : null;
  }
  function instant(value) { return value ? Date.parse(value) : null; }
  function rank(value) { return value === "" || value === null || value === undefined ? null : Number(value); }

  var state = {
    format: d.format,
    status: d.status,
    start: Number(d.startPrice),
    increment: Number(d.increment),
    current: d.currentPrice === "" ? null : Number(d.currentPrice),
    leader: d.leader || null,
    leaderRank: rank(d.leaderRank),
    winner: d.winner || null,
    startsAt: instant(d.startsAt),
    freeEndsAt: instant(d.freeBiddingEndsAt),
    endsAt: instant(d.endsAt)
  };
  var me = { code: d.myCode || null, rank: rank(d.myRank) };
  var lastId = Number(d.lastEventId) || 0;
  var offset = Date.parse(d.serverNow) - Date.now(); // business clock = browser clock + offset

  function $(testid) { return root.querySelector("[data-testid=" + testid + "]"); }
  var el = {
    status: $("auction-status"), phase: $("phase"), current: $("current-price"), leader: $("leader"),
    countdown: $("countdown"), endsAt: $("ends-at"), connection: $("connection"), history: $("bid-history"),
    amount: $("bid-amount"), submit: $("bid-submit"), message: $("bid-message"),
    reason: root.querySelector("[data-bid-reason]"), note: root.querySelector("[data-countdown-note]"),
    announce: root.querySelector("[data-room-announce]"), form: root.querySelector("[data-bid-form]"),
    sealedForm: root.querySelector("[data-sealed-form]"), sealedAmount: $("sealed-amount"),
    sealedSubmit: $("sealed-submit"), mySealed: $("my-sealed-bid"),
    dutchPrice: $("dutch-price"), dutchAccept: $("dutch-accept"),
    proxyForm: root.querySelector("[data-proxy-form]"), proxyAmount: $("proxy-amount"), myProxy: $("my-proxy")
  };
  var dutch = d.decrement ? { decrement: Number(d.decrement), step: Number(d.stepSeconds), floor: Number(d.floorPrice) } : null;
  var sealedDone = el.mySealed !== null && el.mySealed.textContent.trim() !== "—";

  function businessNow() { return Date.now() + offset; }
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function shanghai(ms, withDate) {
    var t = new Date(ms + SHANGHAI_MS);
    var clock = two(t.getUTCHours()) + ":" + two(t.getUTCMinutes()) + ":" + two(t.getUTCSeconds());
    if (!withDate) return clock;
    return t.getUTCFullYear() + "-" + two(t.getUTCMonth() + 1) + "-" + two(t.getUTCDate()) + " " + clock;
  }
  function timeElement(iso) {
    var node = document.createElement("time");
    var ms = Date.parse(iso);
    node.setAttribute("datetime", new Date(ms).toISOString().replace(".000Z", "Z"));
    node.textContent = shanghai(ms, true);
    return node;
  }
  function countdownText(seconds) {
    var days = Math.floor(seconds / DAY), rest = seconds % DAY;
    var text = two(Math.floor(rest / HOUR)) + ":" + two(Math.floor((rest % HOUR) / 60)) + ":" + two(rest % 60);
    return days ? days + "天 " + text : text;
  }
  function who(code) { return code && code === me.code ? "您" : code || "—"; }
  function sealedHidden() { return state.format === "sealed" && (state.status === "scheduled" || state.status === "open"); }

  // --- what the viewer may bid ------------------------------------------------------------------------------

  function outranksLeader() {
    return me.rank !== null && (state.leaderRank === null || me.rank < state.leaderRank);
  }
  function minimum() {
    if (state.current === null) return state.start;
    return outranksLeader() && state.leader !== me.code ? state.current : state.current + state.increment;
  }
  function refusal(amount) {
    var min = minimum();
    var base = state.current === null ? state.start : state.current;
    if (amount < min) return { code: "bid_too_low", text: "出价低于当前最低可出价 " + money(min) };
    if ((amount - base) % state.increment !== 0) {
      return { code: "bid_not_increment_multiple", text: "加价须为加价幅度 " + money(state.increment) + " 的整数倍" };
    }
    return null;
  }
  function parseInput(text) {
    var clean = String(text).replace(/[¥￥,，\s]/g, "");
    var m = /^([0-9]{1,12})(?:\.([0-9]{1,2}))?$/.exec(clean);
    if (!m) return null;
    return Number(m[1]) * 100 + Number(((m[2] || "") + "00").slice(0, 2));
  }
  function apiAmount(value) { return Math.floor(value / 100) + "." + two(value % 100); }

  // --- rendering ------------------------------------------------------------------------------------------

  function phase(now) {
    if (state.status === "scheduled" || (state.status === "open" && state.startsAt !== null && now < state.startsAt)) return "未开始";
    if (state.status === "open") return state.freeEndsAt !== null && now < state.freeEndsAt ? "自由报价期" : "限时报价期";
    return { closed: "已结束", failed: "流拍" }[state.status] || "已取消";
  }
  function statusText() {
    if (state.status === "closed") return "已成交（" + who(state.winner) + "，" + money(state.current) + "）";
    return { scheduled: "未开始", open: "竞价中", failed: "流拍", cancelled: "已取消" }[state.status] || state.status;
  }
  var edited = false;
  function disabledReason(now) {
    if (FINAL[state.status] || (state.endsAt !== null && now >= state.endsAt)) return "已结束";
    if (phase(now) === "未开始") return "未开始";
    if (state.format === "english" && me.code && state.leader === me.code) return "您当前领先";
    return "";
  }
  function renderForm(now) {
    controls(now);
    if (el.form && !edited && !FINAL[state.status]) el.amount.value = apiAmount(minimum());
  }
  function render() {
    var now = businessNow();
    el.status.textContent = statusText();
    el.phase.textContent = phase(now);
    if (sealedHidden()) {
      el.current.textContent = "密封报价，结束后公布";
      el.leader.textContent = "密封报价，结束后公布";
    } else {
      el.current.textContent = money(state.current);
      el.leader.textContent = who(state.leader);
    }
    if (state.endsAt !== null) {
      el.endsAt.textContent = "";
      el.endsAt.appendChild(timeElement(new Date(state.endsAt).toISOString()));
    }
    tick();
    renderForm(now);
  }
  function tick() {
    var now = businessNow();
    if (state.endsAt === null) return;
    var left = Math.max(0, Math.ceil((state.endsAt - now) / 1000));
    el.countdown.textContent = countdownText(left);
    el.note.textContent = left === 0 && !FINAL[state.status] ? "等待结果…" : "";
    controls(now);
    el.phase.textContent = phase(now);
  }
  function dutchNow(now) {
    if (!dutch || state.status !== "open" || state.startsAt === null || now < state.startsAt) return state.current;
    var steps = Math.floor((now - state.startsAt) / 1000 / dutch.step);
    return Math.max(dutch.floor, state.start - dutch.decrement * steps);
  }
  function controls(now) {
    var reason = disabledReason(now);
    if (el.reason) el.reason.textContent = reason;
    if (el.form) el.submit.disabled = reason !== "";
    if (el.sealedForm) {
      el.sealedSubmit.disabled = reason !== "" || sealedDone;
      el.sealedAmount.disabled = sealedDone;
    }
    if (el.dutchAccept) {
      el.dutchAccept.disabled = reason !== "";
      el.dutchPrice.textContent = money(dutchNow(now));
    }
  }

  function bidRow(bid) {
    if (el.history.querySelector("[data-id='" + bid.id + "']")) return;
    var row = document.createElement("tr");
    row.setAttribute("data-testid", "bid-row");
    row.setAttribute("data-id", bid.id);
    row.setAttribute("data-seq", String(bid.seq));
    var cell = document.createElement("td");
    cell.textContent = who(bid.bidder_code);
    if (bid.auto) cell.appendChild(mark("代理"));
    if (bid.priority_rank) cell.appendChild(mark("优先权 " + bid.priority_rank));
    var amount = document.createElement("td");
    amount.textContent = money(bid.amount);
    var at = document.createElement("td");
    if (bid.placed_at) at.appendChild(timeElement(bid.placed_at));
    row.appendChild(cell); row.appendChild(amount); row.appendChild(at);
    var rows = el.history.querySelectorAll("[data-testid=bid-row]");
    var before = null;
    for (var i = 0; i < rows.length; i++) {
      if (Number(rows[i].dataset.seq) < bid.seq) { before = rows[i]; break; }
    }
    el.history.insertBefore(row, before);
    while (el.history.children.length > 20) el.history.removeChild(el.history.lastChild);
  }
  function mark(text) {
    var span = document.createElement("span");
    span.className = "mark";
    span.textContent = text;
    return span;
  }

  // --- state from the API and the stream ------------------------------------------------------------------

  function applyState(data) {
    var oldEnd = state.endsAt;
    state.status = data.status;
    if (data.format) state.format = data.format;
    if ("current_price" in data) state.current = fen(data.current_price);
    if ("leading_bidder_code" in data) state.leader = data.leading_bidder_code || null;
    if ("leader_priority_rank" in data) state.leaderRank = rank(data.leader_priority_rank);
    if ("winner_bidder_code" in data) state.winner = data.winner_bidder_code || null;
    if ("starts_at" in data) state.startsAt = instant(data.starts_at);
    if ("free_bidding_ends_at" in data) state.freeEndsAt = instant(data.free_bidding_ends_at);
    if ("ends_at" in data) state.endsAt = instant(data.ends_at);
    if (data.now) offset = Date.parse(data.now) - Date.now();
    if (oldEnd !== null && state.endsAt !== null && state.endsAt > oldEnd && !FINAL[state.status]) {
      el.announce.textContent = "延时至 " + shanghai(state.endsAt, false);
    }
    if (window.Exchange.confirmOpen() && pendingBid && !pendingBid.dutch && minimum() !== pendingBid.minimum) {
      window.Exchange.confirmNote("价格已变化");
    }
    render();
  }
  function onEvent(event) {
    var seq = Number(event.lastEventId);
    if (!(seq > lastId)) return; // each event once, in id order
    lastId = seq;
    var data = JSON.parse(event.data);
    if (data.bid) bidRow({
      id: data.bid.id, seq: data.bid.seq, amount: data.bid.amount, bidder_code: data.bid.bidder_code,
      auto: data.bid.auto, priority_rank: data.bid.priority_rank, placed_at: data.bid.placed_at || data.now
    });
    applyState(data);
    if (FINAL[data.status]) {
      stop();
      // A sealed auction's events carry no amounts: its price, winner and bids are read once it has closed.
      if (state.format === "sealed") reread().catch(function () { return null; });
    }
    if (data.status === "closed" && me.code && data.winner_bidder_code === me.code && data.deal_id) contractLink(data.deal_id);
  }
  function contractLink(dealId) {
    // The winner's link to its contract (SPEC §19.5), read with the CSRF header.
    var slot = root.querySelector("[data-contract-slot]");
    if (!slot || slot.querySelector("a")) return;
    getJSON("/api/v1/deals/" + dealId).then(function (deal) {
      if (!deal.contract_id || slot.querySelector("a")) return;
      var a = document.createElement("a");
      a.href = "/contracts/" + deal.contract_id;
      a.setAttribute("data-testid", "contract-link");
      a.textContent = "查看合同";
      slot.appendChild(a);
    }).catch(function () { return null; });
  }

  var source = null, retry = 1, retryTimer = null, stopped = false, opened = 0;
  function setConnection(live) {
    el.connection.setAttribute("data-state", live ? "live" : "reconnecting");
    el.connection.textContent = live ? "实时" : "连接中断，正在重连…";
  }
  function stop() {
    stopped = true;
    if (source) source.close();
    source = null;
    el.connection.setAttribute("data-state", "live");
    el.connection.textContent = "竞价已结束";
  }
  function open() {
    if (stopped) return;
    source = new EventSource("/api/v1/auctions/" + id + "/events?last_event_id=" + lastId);
    source.onopen = function () {
      retry = 1;
      setConnection(true);
      // After a reconnect, the history is read again, so the room shows exactly the server's bids (a live
      // bid carries its own placed_at; events stored before it did carry only the time they were sent).
      if (opened++) rereadBids().catch(function () { return null; });
    };
    source.onerror = function () {
      if (stopped) return;
      setConnection(false);
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        retryTimer = setTimeout(function () { reread().then(open, open); }, retry * 1000);
        retry = Math.min(retry * 2, 30);
      }
    };
    EVENTS.forEach(function (name) { source.addEventListener(name, onEvent); });
  }
  function getJSON(url) {
    var headers = { Accept: "application/json" };
    var token = csrf();
    if (token) headers["X-CSRF-Token"] = token;
    return fetch(url, { headers: headers, credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }
  function rereadBids() {
    return getJSON("/api/v1/auctions/" + id + "/bids?limit=20").then(function (page) {
      el.history.textContent = "";
      page.items.forEach(bidRow);
    });
  }
  function reread() {
    return getJSON("/api/v1/auctions/" + id).then(function (data) {
      applyState(data);
      return rereadBids();
    });
  }

  // --- bidding --------------------------------------------------------------------------------------------

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
  function say(text, code, link) {
    el.message.textContent = text;
    el.message.setAttribute("role", code ? "alert" : "status");
    el.message.setAttribute("data-code", code || "");
    if (link) {
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      el.message.appendChild(document.createTextNode(" "));
      el.message.appendChild(a);
    }
  }
  function afterRefusal() {
    edited = false;
    reread().catch(function () { return null; }).then(function () {
      renderForm(businessNow());
      var focus = el.amount || el.sealedAmount || el.dutchAccept;
      if (focus && !focus.disabled) focus.focus();
    });
  }
  function showOwnSealedBid() {
    // The own sealed bid, read with the CSRF header (the API shows a bidder its own bid only).
    return getJSON("/api/v1/auctions/" + id + "/bids?limit=20").then(function (page) {
      var own = page.items.filter(function (b) { return b.bidder_code === me.code; });
      if (own.length) {
        sealedDone = true;
        el.mySealed.textContent = money(own[0].amount);
        el.history.textContent = "";
        page.items.forEach(bidRow);
      }
      controls(businessNow());
    });
  }
  function submitSealed(event) {
    event.preventDefault();
    if (el.sealedSubmit.disabled) return;
    var amount = parseInput(el.sealedAmount.value);
    if (amount === null || amount <= 0) {
      say("请输入金额，如 " + apiAmount(state.start), "invalid_amount");
      el.sealedAmount.focus();
      return;
    }
    if (amount < state.start) {
      say("出价低于当前最低可出价 " + money(state.start), "bid_too_low");
      el.sealedAmount.focus();
      return;
    }
    window.Exchange.confirm({
      title: "确认密封报价",
      lines: ["报价金额：" + money(amount), "一次报价，提交后不能修改。"],
      ok: "确认报价",
      returnFocus: el.sealedAmount
    }).then(function (ok) { if (ok) send(amount); });
  }
  function acceptDutch() {
    if (el.dutchAccept.disabled) return;
    var price = dutchNow(businessNow());
    pendingBid = { amount: price, minimum: null, dutch: true };
    window.Exchange.confirm({
      title: "确认应价",
      lines: ["按当前价应价：" + money(price), "最先应价者成交。"],
      ok: "确认应价",
      returnFocus: el.dutchAccept
    }).then(function (ok) {
      pendingBid = null;
      if (ok) send(price, "accept");
    });
  }

  var pendingBid = null;  // the amount in the open dialog and the minimum it was chosen at
  var retryKey = null;    // {amount, key}: reused by the next confirmation of that amount after a network error

  function send(amount, action) {
    action = action || "bids";
    var focus = action === "accept" ? el.dutchAccept : el.sealedForm ? el.sealedAmount : el.amount;
    var key = retryKey && retryKey.amount === amount && retryKey.action === action ? retryKey.key : newKey();
    retryKey = { amount: amount, action: action, key: key };
    var headers = { "Content-Type": "application/json", Accept: "application/json", "Idempotency-Key": key };
    var token = csrf();
    if (token) headers["X-CSRF-Token"] = token;
    var body = action === "accept" ? undefined : JSON.stringify({ amount: apiAmount(amount) });
    return fetch("/api/v1/auctions/" + id + "/" + action, {
      method: "POST", headers: headers, credentials: "same-origin", body: body
    }).then(function (r) {
      retryKey = null;
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (r.status === 201 || (action === "accept" && r.status === 200)) {
          edited = false;
          say(body.leading === false ? "出价已受理，但已被代理出价超过" : "出价成功", null);
          if (el.sealedForm) showOwnSealedBid();
          if (action === "accept") {
            reread().then(function () {
              if (state.status === "closed" && state.winner === me.code && body.deal_id) contractLink(body.deal_id);
            }).catch(function () { return null; });
          }
          if (focus && !focus.disabled) focus.focus();
          return;
        }
        if (r.status === 401) {
          say(EXPIRED, body.code || "unauthorized", { href: "/login?next=" + encodeURIComponent("/auctions/" + id), text: "重新登录" });
          return;
        }
        var code = body.code || "http_" + r.status;
        var text = MESSAGES[code];
        if (code === "bid_too_low" || code === "bid_not_increment_multiple") {
          return reread().catch(function () { return null; }).then(function () {
            var floor = state.format === "english" ? minimum() : state.start;
            say(code === "bid_too_low" ? "出价低于当前最低可出价 " + money(floor)
              : "加价须为加价幅度 " + money(state.increment) + " 的整数倍", code);
            afterRefusal();
          });
        }
        say(text || "出价未被受理（" + code + "）", code);
        afterRefusal();
      });
    }, function () {
      say(NETWORK, "network_error");
      rereadBids().catch(function () { return null; });
      renderForm(businessNow());
    });
  }

  function submit(event) {
    event.preventDefault();
    if (el.submit.disabled) return;
    var amount = parseInput(el.amount.value);
    if (amount === null || amount <= 0) {
      say("请输入金额，如 " + apiAmount(minimum()), "invalid_amount");
      el.amount.focus();
      return;
    }
    var why = refusal(amount);
    if (why) {
      say(why.text, why.code);
      el.amount.focus();
      return;
    }
    pendingBid = { amount: amount, minimum: minimum() };
    window.Exchange.confirm({
      title: "确认出价",
      lines: ["出价金额：" + money(amount), "当前价：" + money(state.current), "出价一经受理不能撤回。"],
      ok: "确认出价",
      returnFocus: el.amount
    }).then(function (ok) {
      var chosen = pendingBid;
      pendingBid = null;
      if (ok && chosen) send(chosen.amount);
      else el.amount.focus();
    });
  }

  function submitProxy(event) {
    event.preventDefault();
    var amount = parseInput(el.proxyAmount.value);
    if (amount === null || amount <= 0) {
      say("请输入金额，如 " + apiAmount(minimum()), "invalid_amount");
      el.proxyAmount.focus();
      return;
    }
    if (amount < minimum()) {
      say("出价低于当前最低可出价 " + money(minimum()), "bid_too_low");
      el.proxyAmount.focus();
      return;
    }
    if ((amount - state.start) % state.increment !== 0) {
      say("加价须为加价幅度 " + money(state.increment) + " 的整数倍", "bid_not_increment_multiple");
      el.proxyAmount.focus();
      return;
    }
    window.Exchange.confirm({
      title: "确认代理出价",
      lines: ["代理出价上限：" + money(amount), "交易所将按加价幅度代您出价，上限只能提高。"],
      ok: "确认设置",
      returnFocus: el.proxyAmount
    }).then(function (ok) { if (ok) sendProxy(amount); });
  }
  function sendProxy(amount) {
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    var token = csrf();
    if (token) headers["X-CSRF-Token"] = token;
    fetch("/api/v1/auctions/" + id + "/proxy", {
      method: "PUT", headers: headers, credentials: "same-origin", body: JSON.stringify({ max_amount: apiAmount(amount) })
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (r.status === 200 || r.status === 201) {
          el.myProxy.textContent = money(body.max_amount);
          el.proxyAmount.value = "";
          say(body.leading === false ? "代理出价已设置，但已被其他出价超过" : "代理出价已设置", null);
          el.proxyAmount.focus();
          return;
        }
        if (r.status === 401) {
          say(EXPIRED, body.code || "unauthorized", { href: "/login?next=" + encodeURIComponent("/auctions/" + id), text: "重新登录" });
          return;
        }
        var code = body.code || "http_" + r.status;
        var text = MESSAGES[code];
        if (code === "bid_too_low") text = "出价低于当前最低可出价 " + money(minimum());
        if (code === "bid_not_increment_multiple") text = "加价须为加价幅度 " + money(state.increment) + " 的整数倍";
        say(text || "未被受理（" + code + "）", code);
        el.proxyAmount.focus();
      });
    }, function () { say(NETWORK, "network_error"); });
  }
  // The room's buttons are rendered disabled (a form posted without this script would only reload the page):
  // controls() enables the bid buttons by the room's state, the proxy's is enabled here.
  if (el.proxyForm) {
    el.proxyForm.addEventListener("submit", submitProxy);
    el.proxyForm.querySelector("[type=submit]").disabled = false;
  }
  if (el.sealedForm) el.sealedForm.addEventListener("submit", submitSealed);
  if (el.dutchAccept) el.dutchAccept.addEventListener("click", acceptDutch);
  if (el.form) {
    el.form.addEventListener("submit", submit);
    el.amount.addEventListener("input", function () { edited = true; });
  }
  render();
  setInterval(tick, 1000);
  if (FINAL[state.status]) stop(); else open();
})();
