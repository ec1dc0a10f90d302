// The dashboard: reads the API with the tab's key or access token and renders every value as text (never HTML).
// Money is shown exactly as the API's decimal strings, per currency; the chart plots counts only,
// so no amount ever passes through a JavaScript number.
"use strict";
(function () {
  const KEY_ITEM = "txn-dashboard.api-key";
  const TOKEN_ITEM = "txn-dashboard.access-token";  // a Cognito access token, pasted in
  const REFRESH_MS = refreshMs();
  const HISTORY_PAGE = 10;
  const HOUR_S = 3600;

  const $ = (id) => document.getElementById(id);

  // `?refresh=N` (seconds, 1 to 3600; the server refuses anything else with a 400), else 5 s.
  function refreshMs() {
    const asked = new URLSearchParams(window.location.search).get("refresh");
    const seconds = asked !== null && /^[0-9]{1,4}$/.test(asked) ? Number(asked) : 5;
    return (seconds >= 1 && seconds <= 3600 ? seconds : 5) * 1000;
  }
  const state = {
    timer: null, busy: false, plot: null, range: "24",
    account: null, cursors: [null], page: 0, nextCursor: null,
  };

  // ---- auth: the one place that decides what a data call sends ----
  // The tab holds at most one credential (the API answers 400 to both headers): signing in with
  // one removes the other, and sessionStorage keeps it for this tab only.
  function credential() {
    const token = sessionStorage.getItem(TOKEN_ITEM);
    if (token) return { method: "token", value: token };
    const key = sessionStorage.getItem(KEY_ITEM);
    return key ? { method: "key", value: key } : null;
  }

  function authHeaders() {
    const held = credential();
    if (!held) return {};
    return held.method === "token"
      ? { authorization: "Bearer " + held.value } : { "x-api-key": held.value };
  }

  function forget() {
    sessionStorage.removeItem(KEY_ITEM);
    sessionStorage.removeItem(TOKEN_ITEM);
  }

  class AuthError extends Error {}

  const AUTH_MESSAGES = {
    key: {
      401: "No API key was sent. Enter your API key.",
      403: "This API key was refused: it is wrong or has been revoked. Enter a valid key.",
    },
    token: {
      401: "Your access token was refused (expired or not valid): sign in again with a new token.",
      403: "Your access token is valid but gives no access to this data (no bank group, " +
        "no access, or a missing scope). Ask for access, or sign in as someone who has it.",
    },
  };

  function authMessage(method, status, body) {
    let message = AUTH_MESSAGES[method][status];
    // the API's reason ("the token has expired", "the user belongs to no bank group ...") helps
    // a person with a token; it is shown as text like everything else
    if (method === "token" && body && typeof body.Message === "string" && body.Message) {
      message += ' The API said: "' + body.Message.slice(0, 300) + '".';
    }
    return message;
  }

  async function api(path) {
    const held = credential();  // what this call sends, for its message if refused
    let response;
    try {
      response = await fetch(path, {
        headers: { ...authHeaders(), accept: "application/json" },
        cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
      });
    } catch (err) {
      throw new Error("the API could not be reached");
    }
    let body = null;
    try { body = await response.json(); } catch (err) { body = null; }
    if (response.status === 401 || response.status === 403) {
      throw new AuthError(authMessage(held ? held.method : "key", response.status, body));
    }
    if (!response.ok) {
      const message = body && typeof body.Message === "string" ? body.Message : response.statusText;
      const error = new Error(message || ("HTTP " + response.status));
      error.status = response.status;
      throw error;
    }
    return body;
  }

  // ---- DOM helpers: text only ----
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function cell(row, text, className, label) {
    const td = el("td", className, text);
    if (label) td.dataset.label = label;  // shown before the value when a phone stacks the row
    row.appendChild(td);
    return td;
  }

  function box(td) {
    // one child, so a stacked row keeps a cell's lines together beside its label
    const wrap = el("div");
    td.appendChild(wrap);
    return wrap;
  }

  function accountButton(account) {
    const button = el("button", "link", account);
    button.type = "button";
    button.setAttribute("aria-label", "Open account " + account);
    button.addEventListener("click", () => openAccount(account));
    return button;
  }

  function timeText(timestamp) {
    // The API's UTC text, shown as "2026-01-10 14:00:05" (a string slice: no Date, no zone games).
    return String(timestamp).replace("T", " ").replace("Z", "").slice(0, 19);
  }

  function problem(text) {
    const node = $("problem");
    node.textContent = text || "";
    node.hidden = !text;
  }

  // ---- sign in / out ----
  function chosenMethod() {
    const checked = document.querySelector('input[name="method"]:checked');
    return checked && checked.value === "token" ? "token" : "key";
  }

  function showMethod(method) {
    const token = method === "token";
    document.querySelector('input[name="method"][value="' + method + '"]').checked = true;
    $("key-field").hidden = token;
    $("key-hint").hidden = token;
    $("token-field").hidden = !token;
    $("token-hint").hidden = !token;
  }

  function showSignIn(message, method) {
    stopRefresh();
    $("board").hidden = true;
    $("sign-out").hidden = true;
    $("signin").hidden = false;
    $("updated").textContent = "";
    problem("");
    $("signin-message").textContent = message || "";
    $("api-key").value = "";
    $("access-token").value = "";
    showMethod(method || chosenMethod());
    $(chosenMethod() === "token" ? "access-token" : "api-key").focus();
  }

  function signOut(message) {
    const held = credential();
    forget();
    state.account = null;
    $("account-detail").hidden = true;
    showSignIn(message, held ? held.method : null);
  }

  function tokenProblem(token) {
    // A light look before sending, so a wrong paste gets a plain answer; the API verifies it.
    const parts = token.split(".");
    if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) {
      return "This does not look like an access token (three base64url parts separated by dots).";
    }
    try {
      const payload = parts[1].replaceAll("-", "+").replaceAll("_", "/");
      const claims = JSON.parse(atob(payload + "=".repeat((4 - payload.length % 4) % 4)));
      if (claims && claims.token_use === "id") {
        return "This is an ID token: paste the AccessToken instead.";
      }
    } catch (err) {
      return "This does not look like an access token (its middle part is not JSON).";
    }
    return "";
  }

  async function signIn(event) {
    event.preventDefault();
    if (chosenMethod() === "token") {
      const token = $("access-token").value.trim().replace(/^Bearer\s+/i, "");
      const wrong = token ? tokenProblem(token) : "Paste an access token.";
      if (wrong) { $("signin-message").textContent = wrong; return; }
      forget();
      sessionStorage.setItem(TOKEN_ITEM, token);
    } else {
      const key = $("api-key").value.trim();
      if (!key) {
        $("signin-message").textContent = "Enter an API key.";
        return;
      }
      forget();
      sessionStorage.setItem(KEY_ITEM, key);
    }
    await start();
  }

  async function start() {
    $("signin").hidden = true;
    $("sign-out").hidden = false;
    $("board").hidden = false;
    $("signin-message").textContent = "";
    await refresh();
  }

  // ---- refresh loop: every few seconds, paused while the tab is hidden ----
  function stopRefresh() {
    if (state.timer !== null) clearTimeout(state.timer);
    state.timer = null;
  }

  function schedule() {
    stopRefresh();
    if (!document.hidden && credential()) {
      state.timer = setTimeout(refresh, REFRESH_MS);
    }
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  async function refresh() {
    if (state.busy) return;
    state.busy = true;
    try {
      const [analytics, series] = await Promise.all([api("analytics"), api(seriesPath())]);
      renderTiles(analytics);
      renderCurrencies(analytics.totals);
      renderRules(analytics.flags.by_rule);
      renderFlagged(analytics.flags.recent);
      renderSeries(series);
      const now = new Date();
      $("updated").textContent = "updated " + pad(now.getHours()) + ":" + pad(now.getMinutes()) + ":" + pad(now.getSeconds());
      problem("");
    } catch (err) {
      if (err instanceof AuthError) {
        state.busy = false;
        signOut(err.message);
        return;
      }
      problem("Could not refresh: " + err.message + ". Retrying in a few seconds.");
    } finally {
      state.busy = false;
    }
    schedule();
  }

  document.addEventListener("visibilitychange", () => {
    if (!credential()) return;
    if (document.hidden) {
      stopRefresh();
      $("updated").textContent += " (paused)";
    } else {
      refresh();
    }
  });

  // ---- tiles ----
  function tile(label, value, unit, extra) {
    const box = el("div", "tile" + (extra ? " " + extra : ""));
    box.appendChild(el("span", "label", label));
    const line = el("span", "value", value);
    box.appendChild(line);
    if (unit) box.appendChild(el("span", "unit", unit));
    return box;
  }

  function renderTiles(analytics) {
    const tiles = [
      tile("Transactions", analytics.count), tile("Accounts", analytics.accounts),
      tile("Flagged", analytics.flags.count, null, "flag"),
    ];
    tiles[0].id = "tile-count"; tiles[1].id = "tile-accounts"; tiles[2].id = "tile-flagged";
    for (const code of Object.keys(analytics.totals).sort()) {
      const net = tile("Net " + code, analytics.totals[code].net, code);
      net.dataset.currency = code;
      net.classList.add("net");
      tiles.push(net);
    }
    $("tiles").replaceChildren(...tiles);
  }

  // ---- credits against debits, per currency (counts for the bar, money as text) ----
  function renderCurrencies(totals) {
    const rows = [];
    for (const code of Object.keys(totals).sort()) {
      const t = totals[code];
      const row = el("tr");
      row.dataset.currency = code;
      cell(row, code, "code", "Currency");
      const credits = box(cell(row, null, "num", "Credits"));
      credits.appendChild(el("span", "side credit", t.credits.total + " " + code));
      credits.appendChild(el("span", "muted", t.credits.count + " credits"));
      const debits = box(cell(row, null, "num", "Debits"));
      debits.appendChild(el("span", "side debit", t.debits.total + " " + code));
      debits.appendChild(el("span", "muted", t.debits.count + " debits"));
      const net = box(cell(row, null, null, "Net"));
      net.appendChild(el("span", "side", t.net + " " + code));
      const all = t.credits.count + t.debits.count;
      const split = el("div", "split");
      split.setAttribute("role", "img");
      split.setAttribute("aria-label", t.credits.count + " credits, " + t.debits.count + " debits");
      const share = all ? (100 * t.credits.count) / all : 0;
      const creditBar = el("span", "credit");
      creditBar.style.width = share + "%";
      const debitBar = el("span", "debit");
      debitBar.style.width = (all ? 100 - share : 0) + "%";
      split.append(creditBar, debitBar);
      net.appendChild(split);
      rows.push(row);
    }
    if (!rows.length) rows.push(emptyRow(4, "No transactions yet."));
    $("currencies").tBodies[0].replaceChildren(...rows);
  }

  function emptyRow(columns, text) {
    const row = el("tr");
    const td = cell(row, text, "muted");
    td.colSpan = columns;
    return row;
  }

  // ---- flags by rule ----
  function renderRules(byRule) {
    const names = Object.keys(byRule).sort((a, b) => byRule[b] - byRule[a] || (a < b ? -1 : 1));
    const top = names.length ? byRule[names[0]] : 0;
    const rows = names.map((rule) => {
      const row = el("tr");
      row.dataset.rule = rule;
      cell(row, rule.replaceAll("_", " "));
      cell(row, byRule[rule], "num");
      const bar = el("div", "bar");
      bar.style.width = (top ? (100 * byRule[rule]) / top : 0) + "%";
      cell(row, null, "bar-cell").appendChild(bar);
      return row;
    });
    if (!rows.length) rows.push(emptyRow(3, "Nothing flagged yet."));
    $("rules").tBodies[0].replaceChildren(...rows);
  }

  // ---- transactions tables ----
  function txRow(tx, withAccount) {
    const row = el("tr");
    row.dataset.id = tx.id;
    cell(row, timeText(tx.timestamp), "time", "Time");
    if (withAccount) cell(row, null, null, "Account").appendChild(accountButton(tx.account));
    else cell(row, tx.type, null, "Type");
    cell(row, tx.amount + " " + tx.currency, "num", "Amount");
    cell(row, (tx.flags || []).map((f) => f.replaceAll("_", " ")).join(", "), "rules-list", "Rules");
    cell(row, tx.merchant || "", "merchant", "Merchant");
    cell(row, tx.id, "id", "Id");
    return row;
  }

  function renderFlagged(recent) {
    const rows = recent.map((tx) => txRow(tx, true));
    if (!rows.length) rows.push(emptyRow(6, "Nothing flagged yet."));
    $("flagged").tBodies[0].replaceChildren(...rows);
  }

  // ---- the hourly series (uPlot; counts only) ----
  function seriesPath() {
    const hours = state.range === "all" ? 744 : Number(state.range);
    // the API takes timestamps up to 5 minutes ahead: the window ends after the hour they fall in
    const until = new Date(Date.now() + 5 * 60 * 1000);
    until.setUTCMinutes(0, 0, 0);
    until.setUTCHours(until.getUTCHours() + 1);
    const since = new Date(until.getTime() - hours * HOUR_S * 1000);
    return "analytics/series?since=" + encodeURIComponent(since.toISOString()) +
      "&until=" + encodeURIComponent(until.toISOString());
  }

  function renderSeries(series) {
    let hours = series.hours;
    if (state.range === "all") {
      // "all": from the first hour with data (the API serves at most 31 days per request)
      const first = hours.findIndex((h) => h.count > 0);
      hours = first > 0 ? hours.slice(Math.max(0, first - 1)) : hours;
    }
    const xs = hours.map((h) => Date.parse(h.hour) / 1000);
    const counts = hours.map((h) => h.count);
    const flagged = hours.map((h) => h.flagged);
    const total = counts.reduce((a, b) => a + b, 0);
    const chart = $("chart");
    chart.dataset.points = String(xs.length);
    chart.dataset.total = String(total);
    chart.dataset.flagged = String(flagged.reduce((a, b) => a + b, 0));
    chart.setAttribute("aria-label", "Transactions per hour: " + total + " transactions in " +
      xs.length + " hours, " + chart.dataset.flagged + " flagged");
    $("series-note").textContent = total ? "" : "No transactions in this window.";
    const data = [xs, counts, flagged];
    if (state.plot) {
      state.plot.setData(data);
      return;
    }
    state.plot = new uPlot(chartOptions(chart), data, chart);
  }

  function utcText(ts) { return new Date(ts * 1000).toISOString(); }  // counts only: ts is an integer

  function hourLabels(u, splits) {
    // "14:00", with the date above the first label of each day (times are UTC, as in the API)
    let lastDay = "";
    return splits.map((ts) => {
      const iso = utcText(ts);
      const day = iso.slice(5, 10);
      const label = (day !== lastDay ? day + "\n" : "") + iso.slice(11, 16);
      lastDay = day;
      return label;
    });
  }

  function chartOptions(target) {
    return {
      width: chartWidth(target), height: chartHeight(),
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { range: (u, min, max) => [min - HOUR_S / 2, max + HOUR_S / 2] },  // whole bars at the edges
        y: { range: (u, min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] },
      },
      axes: [{ values: hourLabels, space: 60, size: 48 }, { size: 48 }],
      series: [
        { label: "Hour", value: (u, ts) => (ts == null ? "--" : utcText(ts).slice(0, 16).replace("T", " ") + " UTC") },
        { label: "Transactions", stroke: "#1f5fbf", fill: "rgba(31,95,191,0.55)", width: 1,
          paths: uPlot.paths.bars({ size: [0.9, 48], align: 0 }), points: { show: false } },
        { label: "Flagged", stroke: "#b3261e", fill: "rgba(179,38,30,0.85)", width: 1,
          paths: uPlot.paths.bars({ size: [0.5, 24], align: 0 }), points: { show: false } },
      ],
    };
  }

  function chartHeight() { return window.innerWidth < 600 ? 200 : 260; }

  function chartWidth(target) {
    return Math.max(280, Math.floor(target.getBoundingClientRect().width || 600));
  }

  window.addEventListener("resize", () => {
    const plot = state.plot;
    if (plot) plot.setSize({ width: chartWidth($("chart")), height: chartHeight() });
  });

  function changeRange(event) {
    state.range = event.target.value;
    refresh();
  }

  // ---- account drill-down with cursor paging ----
  async function openAccount(account) {
    state.account = account;
    state.cursors = [null];
    state.page = 0;
    $("account-input").value = account;
    $("account-message").textContent = "";
    await loadAccount(true);
    $("account").scrollIntoView({ block: "start" });
  }

  // An account as one path segment. encodeURIComponent alone is not enough: `.` and `..` stay
  // as they are and the browser resolves them away (`accounts/.` is `accounts/`, whose 403
  // signed the analyst out), and `%3A` reaches the app undecoded under `chalice local`. The
  // API refuses `.` and `..` as accounts (no URL can address them), so only one stored before
  // that rule gets here; every character the API allows in an account (A-Za-z0-9._:-) is a
  // plain path character, sent as it is.
  function accountSegment(account) {
    if (account === "." || account === "..") return null;
    return encodeURIComponent(account).replace(/%3A/gi, ":");
  }

  async function loadAccount(withSummary) {
    const account = state.account;
    const segment = accountSegment(account);
    if (segment === null) {
      $("account-detail").hidden = true;
      $("account-message").textContent = "The account \u201c" + account + "\u201d cannot be " +
        "looked up: a web address cannot name it (the API no longer accepts it as an account).";
      return;
    }
    const base = "accounts/" + segment;
    const cursor = state.cursors[state.page];
    const query = "?limit=" + HISTORY_PAGE + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    try {
      const [summary, page] = await Promise.all([
        withSummary ? api(base) : Promise.resolve(null), api(base + "/transactions" + query)]);
      if (summary) renderAccountSummary(summary);
      state.nextCursor = page.next_cursor;
      $("history").tBodies[0].replaceChildren(...page.items.map((tx) => txRow(tx, false)));
      $("history-caption").textContent = "Page " + (state.page + 1) + " of " + account +
        "'s transactions, newest first";
      $("history-newer").disabled = state.page === 0;
      $("history-older").disabled = !state.nextCursor;
      $("account-detail").hidden = false;
    } catch (err) {
      if (err instanceof AuthError) { signOut(err.message); return; }
      $("account-detail").hidden = true;
      $("account-message").textContent = err.status === 404
        ? "No transactions for account " + account + "."
        : "Could not load the account: " + err.message;
    }
  }

  function renderAccountSummary(summary) {
    const items = [["Account", summary.account], ["Transactions", summary.count],
      ["Flagged", summary.flags.count], ["Last activity", timeText(summary.last_activity || "")]];
    for (const code of Object.keys(summary.totals).sort()) {
      const t = summary.totals[code];
      items.push(["Net " + code, t.net + " " + code + " (" + t.credits.count + " credits, " +
        t.debits.count + " debits)"]);
    }
    const nodes = [];
    for (const [name, value] of items) nodes.push(el("dt", null, name), el("dd", null, value));
    $("account-summary").replaceChildren(...nodes);
  }

  function olderPage() {
    if (!state.nextCursor) return;
    state.cursors[state.page + 1] = state.nextCursor;
    state.page += 1;
    loadAccount(false);
  }

  function newerPage() {
    if (state.page === 0) return;
    state.page -= 1;
    loadAccount(false);
  }

  function accountSubmit(event) {
    event.preventDefault();
    const account = $("account-input").value.trim();
    if (!account) { $("account-message").textContent = "Enter an account number."; return; }
    openAccount(account);
  }

  // ---- wiring ----
  function init() {
    $("signin-form").addEventListener("submit", signIn);
    for (const radio of document.querySelectorAll('input[name="method"]')) {
      radio.addEventListener("change", () => {
        $("signin-message").textContent = "";
        showMethod(chosenMethod());
        $(chosenMethod() === "token" ? "access-token" : "api-key").focus();
      });
    }
    $("sign-out").addEventListener("click", () => signOut("Signed out."));
    $("account-form").addEventListener("submit", accountSubmit);
    $("history-older").addEventListener("click", olderPage);
    $("history-newer").addEventListener("click", newerPage);
    for (const radio of document.querySelectorAll('input[name="range"]')) {
      radio.addEventListener("change", changeRange);
    }
    if (credential()) start();
    else showSignIn("");
  }

  init();
})();
