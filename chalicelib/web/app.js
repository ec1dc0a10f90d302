// The dashboard: reads the API with the tab's key or access token and renders every value as text
// (never HTML). Figures come from the API's own text through format.js (thousands separators, the
// currency's digits, never a float); the charts (charts.js) draw heights from numbers but label
// every bar with the exact text. A window (24 h, 7 days, all time) drives the tiles, the tables
// and the charts; clicking an hour narrows the tiles, tables and flagged list to that hour.
"use strict";
(function () {
  const KEY_ITEM = "txn-dashboard.api-key";
  const TOKEN_ITEM = "txn-dashboard.access-token";  // a Cognito access token, pasted in
  const REFRESH_MS = refreshMs();
  const HISTORY_PAGE = 10;
  const HOUR_MS = 3600 * 1000;
  const SKEW_MS = 5 * 60 * 1000;  // the API takes timestamps up to 5 minutes ahead
  const SERIES_MAX_HOURS = 744;  // GET /analytics/series serves at most 31 days a request
  // The API's account rule (chalicelib/domain/validation.py ACCOUNT_PATTERN; a test compares).
  const ACCOUNT_RULE = /^(?!\.\.?$)[A-Za-z0-9._:-]{1,34}$/;
  const WINDOWS = {
    24: { hours: 24, title: "Last 24 hours", span: "the last 24 hours" },
    168: { hours: 168, title: "Last 7 days", span: "the last 7 days" },
    // the series route serves 31 days a request: "all" charts those, the tiles all time
    all: { hours: null, title: "All time", span: "up to 31 days" },
  };
  const F = TxnFormat;

  const $ = (id) => document.getElementById(id);

  // `?refresh=N` (seconds, 1 to 3600; the server refuses anything else with a 400), else 5 s.
  function refreshMs() {
    const asked = new URLSearchParams(window.location.search).get("refresh");
    const seconds = asked !== null && /^[0-9]{1,4}$/.test(asked) ? Number(asked) : 5;
    return (seconds >= 1 && seconds <= 3600 ? seconds : 5) * 1000;
  }
  const state = {
    timer: null, busy: false, again: false, range: "24",
    focus: null,  // the picked hour ("2026-01-10T14:00:00Z") or null: the whole window
    shown: { focus: null, range: "24" },  // what the figures on the page are for
    hours: [],  // the series' hours on the charts, oldest first
    currency: null,  // the money chart's currency, once the reader picks one
    flagged: [], rules: [],  // the flagged list as loaded, and the rules the filter offers
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

  class AuthError extends Error {
    get auth() { return true; }  // alerts.js tells it apart without the class
  }

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

  async function api(path, options) {
    const held = credential();  // what this call sends, for its message if refused
    const method = (options && options.method) || "GET";
    const headers = { ...authHeaders(), accept: "application/json" };
    if (options && options.body !== undefined) headers["content-type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method: method, headers: headers,
        body: options && options.body !== undefined ? JSON.stringify(options.body) : undefined,
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
    state.focus = null;  // the next person starts from the window, with no filter
    $("filter-rule").value = "";
    $("filter-account").value = "";
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
    if (state.busy) { state.again = true; return; }  // a click during a load: load again after
    state.busy = true;
    state.again = false;
    try {
      const chart = chartWindow();
      const tiles = tileWindow(chart);
      const shown = { focus: state.focus, range: state.range };  // whatever is clicked meanwhile
      const [analytics, series, rules] = await Promise.all([
        api("analytics" + windowQuery(tiles)), api("analytics/series" + windowQuery(chart)),
        api("rules")]);
      state.shown = shown;
      renderHeading(analytics.window);
      renderTiles(analytics);
      renderCurrencies(analytics.totals);
      renderRules(analytics.flags.by_rule);
      setFlagged(analytics.flags.recent, analytics.flags.by_rule);
      renderRuleSet(rules);
      renderSeries(series);
      $("alerts-open").textContent = F.count(analytics.alerts.open) + " open";
      await alertQueue.refresh([...new Set([...state.rules, ...rules.rules.map((r) => r.name)])]);
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
    if (state.again) { refresh(); return; }
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

  // ---- the window: whole UTC hours, as the API counts them ----
  function hourText(ms) { return new Date(ms).toISOString().slice(0, 13) + ":00:00Z"; }

  function chartWindow() {
    // ends after the hour that "now" plus the API's skew falls in, so the newest hour is whole
    const until = Math.floor((Date.now() + SKEW_MS) / HOUR_MS) * HOUR_MS + HOUR_MS;
    const hours = WINDOWS[state.range].hours || SERIES_MAX_HOURS;
    return { since: hourText(until - hours * HOUR_MS), until: hourText(until) };
  }

  function tileWindow(chart) {
    if (state.focus) {
      return { since: state.focus, until: hourText(Date.parse(state.focus) + HOUR_MS) };
    }
    return WINDOWS[state.range].hours ? chart : null;  // "all time": no window at all
  }

  function windowQuery(span) {
    return span ? "?since=" + encodeURIComponent(span.since) + "&until=" +
      encodeURIComponent(span.until) : "";
  }

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function dayText(iso) {  // "2026-01-10T14:00:00Z" -> "10 Jan 2026"
    return Number(iso.slice(8, 10)) + " " + MONTHS[Number(iso.slice(5, 7)) - 1] + " " + iso.slice(0, 4);
  }

  function rangeText(since, until) {  // both whole hours, in the API's UTC text
    return dayText(since) + " " + since.slice(11, 16) + " to " +
      (since.slice(0, 10) === until.slice(0, 10) ? "" : dayText(until) + " ") +
      until.slice(11, 16) + " UTC";
  }

  // The heading says which figures the tiles and tables hold: the API's own window, echoed.
  function renderHeading(span) {
    const section = $("window");
    section.dataset.since = span.since || "";
    section.dataset.until = span.until || "";
    section.dataset.focus = state.shown.focus || "";
    if (state.shown.focus) {
      const hour = state.shown.focus;
      $("window-title").textContent = dayText(hour) + ", " + hour.slice(11, 16) + " to " +
        (span.until || "").slice(11, 16) + " UTC";
      $("window-range").textContent = "An hour picked on the charts, which still show " +
        WINDOWS[state.shown.range].span + ".";
    } else {
      $("window-title").textContent = WINDOWS[state.shown.range].title;
      $("window-range").textContent = span.since && span.until
        ? rangeText(span.since, span.until) : "Everything since the first transaction.";
    }
    $("focus-bar").hidden = !state.shown.focus;
    $("focus-clear").textContent = "Back to " + WINDOWS[state.shown.range].title.toLowerCase();
  }

  // ---- tiles: always four, so the grid (4 across, 2 by 2 on a phone) is always full ----
  function tile(id, label, value, extra) {
    const node = el("div", "tile" + (extra ? " " + extra : ""));
    node.id = id;
    node.appendChild(el("span", "label", label));
    node.appendChild(el("span", "value", value));
    return node;
  }

  function renderTiles(analytics) {
    const windowed = Boolean(analytics.window.since || analytics.window.until);
    $("tiles").replaceChildren(
      tile("tile-count", "Transactions", F.count(analytics.count)),
      tile("tile-flagged", "Flagged", F.count(analytics.flags.count), "flag"),
      tile("tile-rate", "Flag rate", F.percent(analytics.flags.count, analytics.count)),
      // the API counts accounts over all time only, whatever the window
      tile("tile-accounts", windowed ? "Accounts (all time)" : "Accounts", F.count(analytics.accounts)));
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
      credits.appendChild(el("span", "side credit", F.money(t.credits.total, code)));
      credits.appendChild(el("span", "muted", F.count(t.credits.count) + " credits"));
      const debits = box(cell(row, null, "num", "Debits"));
      debits.appendChild(el("span", "side debit", F.money(t.debits.total, code)));
      debits.appendChild(el("span", "muted", F.count(t.debits.count) + " debits"));
      const net = box(cell(row, null, "net", "Net"));
      net.appendChild(el("span", "side", F.money(t.net, code)));
      const all = t.credits.count + t.debits.count;
      const split = el("div", "split");
      split.setAttribute("role", "img");
      split.setAttribute("aria-label", F.count(t.credits.count) + " credits, " +
        F.count(t.debits.count) + " debits");
      const share = all ? (100 * t.credits.count) / all : 0;
      const creditBar = el("span", "credit");
      creditBar.style.width = share + "%";
      const debitBar = el("span", "debit");
      debitBar.style.width = (all ? 100 - share : 0) + "%";
      split.append(creditBar, debitBar);
      net.appendChild(split);
      rows.push(row);
    }
    if (!rows.length) rows.push(emptyRow(4, "No transactions in this window."));
    $("currencies").tBodies[0].replaceChildren(...rows);
  }

  function emptyRow(columns, text) {
    const row = el("tr");
    const td = cell(row, text, "muted");
    td.colSpan = columns;
    return row;
  }

  function ruleText(rule) { return rule.replaceAll("_", " "); }

  // ---- flags by rule ----
  function renderRules(byRule) {
    const names = Object.keys(byRule).sort((a, b) => byRule[b] - byRule[a] || (a < b ? -1 : 1));
    const top = names.length ? byRule[names[0]] : 0;
    const rows = names.map((rule) => {
      const row = el("tr");
      row.dataset.rule = rule;
      cell(row, ruleText(rule));
      cell(row, F.count(byRule[rule]), "num");
      const bar = el("div", "bar");
      bar.style.width = (top ? (100 * byRule[rule]) / top : 0) + "%";
      cell(row, null, "bar-cell").appendChild(bar);
      return row;
    });
    if (!rows.length) rows.push(emptyRow(3, "Nothing flagged in this window."));
    $("rules").tBodies[0].replaceChildren(...rows);
  }

  // ---- the active rule set, and each flag's evidence ----
  function renderRuleSet(set) {
    $("ruleset-version").textContent = set.version === 0
      ? "version 0 (the default set)"
      : "version " + set.version + ", by " + set.updated_by + " at " + timeText(set.updated_at);
    const rows = set.rules.map((rule) => {
      const row = el("tr");
      row.dataset.rule = rule.name;
      cell(row, rule.name.replaceAll("_", " "), null, "Rule");
      const definition = rule.when !== undefined ? rule.when
        : "built-in " + rule.builtin + ": " + Object.entries(rule.params || {})
          .map(([k, v]) => k + " " + (typeof v === "string" ? v : JSON.stringify(v))).join(", ");
      cell(row, definition, "definition", "Definition");
      return row;
    });
    if (!rows.length) rows.push(emptyRow(2, "No rules: nothing is flagged."));
    $("ruleset").tBodies[0].replaceChildren(...rows);
  }

  function flagDetails(tx) {
    // one disclosure per flag: its name, and on click the version and the deciding values
    const wrap = el("div", "flags");
    const details = tx.flag_details || [];
    for (const name of tx.flags || []) {
      const detail = details.find((d) => d.rule === name);
      const disclosure = el("details", "flag");
      disclosure.dataset.rule = name;
      disclosure.appendChild(el("summary", null, name.replaceAll("_", " ")));
      if (detail) {
        const list = el("dl", "evidence");
        const pairs = [["rule set version", detail.version], ...Object.entries(detail.evidence)];
        for (const [key, value] of pairs) {
          list.appendChild(el("dt", null, key.replaceAll("_", " ")));
          list.appendChild(el("dd", null, value));
        }
        disclosure.appendChild(list);
      }
      wrap.appendChild(disclosure);
    }
    return wrap;
  }

  // ---- transactions tables ----
  function txRow(tx, withAccount) {
    const row = el("tr");
    row.dataset.id = tx.id;
    cell(row, timeText(tx.timestamp), "time", "Time");
    if (withAccount) cell(row, null, null, "Account").appendChild(accountButton(tx.account));
    else cell(row, tx.type, null, "Type");
    cell(row, F.money(tx.amount, tx.currency), "num", "Amount");
    cell(row, null, "rules-list", "Rules").appendChild(flagDetails(tx));
    cell(row, tx.merchant || "", "merchant", "Merchant");
    cell(row, tx.id, "id", "Id");
    return row;
  }

  // ---- the flagged list, and the seam where the alert queue goes ----
  // Today the list is the window's (or the picked hour's) newest flagged transactions, at most
  // 20 (GET /analytics `flags.recent`), filtered here by rule and account. With the alerts
  // storage, flaggedMatches() gives way to GET /alerts?status=&rule=&account= (filtered by the
  // API, paged with its cursor), flaggedRow() gains the alert's status and its confirm /
  // dismiss / snooze actions, and the filter form gains a status; the rest stays.
  function setFlagged(recent, byRule) {
    state.flagged = recent;
    const rules = [...new Set([...Object.keys(byRule), ...recent.flatMap((tx) => tx.flags || [])])].sort();
    const chosen = $("filter-rule").value;
    if (chosen && !rules.includes(chosen)) rules.push(chosen);  // a choice outlives a quiet hour
    if (rules.join() !== state.rules.join()) {  // rebuilt only on change: an open menu stays open
      state.rules = rules;
      const options = [el("option", null, "All rules")];
      options[0].value = "";
      for (const rule of rules) {
        const option = el("option", null, ruleText(rule));
        option.value = rule;
        options.push(option);
      }
      $("filter-rule").replaceChildren(...options);
      $("filter-rule").value = chosen;
    }
    renderFlagged();
  }

  function flaggedFilter() {
    return { rule: $("filter-rule").value, account: $("filter-account").value.trim() };
  }

  function flaggedMatches(tx, filter) {
    // the account as a case-insensitive part of the number: an analyst types what they see
    return (!filter.rule || (tx.flags || []).includes(filter.rule)) &&
      (!filter.account || tx.account.toLowerCase().includes(filter.account.toLowerCase()));
  }

  function flaggedRow(tx) {
    const row = txRow(tx, true);
    row.dataset.account = tx.account;
    row.dataset.rules = (tx.flags || []).join(" ");
    return row;
  }

  function renderFlagged() {
    const filter = flaggedFilter();
    const shown = state.flagged.filter((tx) => flaggedMatches(tx, filter));
    const rows = shown.map(flaggedRow);
    const filtered = Boolean(filter.rule || filter.account);
    if (!rows.length) {
      rows.push(emptyRow(6, filtered && state.flagged.length
        ? "None of these matches the filter." : "Nothing flagged in this window."));
    }
    $("flagged").tBodies[0].replaceChildren(...rows);
    const where = state.shown.focus ? "this hour" : "this window";
    $("flagged-note").textContent = !state.flagged.length ? "" : filtered
      ? F.count(shown.length) + " of the " + F.count(state.flagged.length) + " newest flagged in " +
        where + " match. Pick an hour on a chart to reach older ones."
      : "The " + F.count(state.flagged.length) + " newest flagged in " + where + ".";
  }

  // ---- the hourly charts: counts, and money in and out in one currency ----
  const picked = () => (state.focus ? Date.parse(state.focus) / 1000 : null);
  let countChart = null;
  let moneyChart = null;

  function charts() {
    if (!countChart) {
      countChart = TxnCharts.counts($("chart"), picked, pickIndex);
      moneyChart = TxnCharts.money($("money-chart"), picked, pickIndex);
    }
  }

  function renderSeries(series) {
    let hours = series.hours;
    if (state.shown.range === "all") {
      // "all": from the first hour with data (the API serves at most 31 days per request)
      const first = hours.findIndex((h) => h.count > 0);
      hours = first > 0 ? hours.slice(Math.max(0, first - 1)) : hours;
    }
    state.hours = hours;
    charts();
    const xs = hours.map((h) => Date.parse(h.hour) / 1000);
    const counts = hours.map((h) => h.count);
    const flagged = hours.map((h) => h.flagged);
    const total = counts.reduce((a, b) => a + b, 0);
    const flaggedTotal = flagged.reduce((a, b) => a + b, 0);
    const chart = $("chart");
    chart.dataset.points = String(xs.length);
    chart.dataset.first = hours.length ? hours[0].hour : "";
    chart.dataset.total = String(total);
    chart.dataset.flagged = String(flaggedTotal);
    chart.setAttribute("aria-label", "Transactions per hour: " + F.count(total) +
      " transactions in " + F.count(xs.length) + " hours, " + F.count(flaggedTotal) + " flagged");
    $("series-note").textContent = !total ? "No transactions in this window."
      : state.shown.range === "all" ? "From the first hour with data, up to 31 days back." : "";
    countChart.set(xs, [counts, flagged], [counts.map(F.count), flagged.map(F.count)]);
    renderMoney(xs, hours);
  }

  function renderMoney(xs, hours) {
    // the currencies of the window, busiest first; the reader's choice is kept while it lasts
    const busy = {};
    for (const h of hours) {
      for (const [code, c] of Object.entries(h.currencies)) {
        busy[code] = (busy[code] || 0) + c.credits.count + c.debits.count;
      }
    }
    const codes = Object.keys(busy).sort((a, b) => busy[b] - busy[a] || (a < b ? -1 : 1));
    const select = $("money-currency");
    if (codes.join() !== [...select.options].map((o) => o.value).join()) {
      select.replaceChildren(...codes.map((code) => {
        const option = el("option", null, code);
        option.value = code;
        return option;
      }));
    }
    const code = codes.includes(state.currency) ? state.currency : codes[0] || null;
    select.value = code || "";
    select.disabled = !codes.length;
    const side = (h, name) => (code && h.currencies[code] ? h.currencies[code][name] : null);
    // heights only: a bar is drawn from Number(text); the legend shows the text itself
    const credits = hours.map((h) => Number(side(h, "credits") ? side(h, "credits").total : 0));
    const debits = hours.map((h) => -Number(side(h, "debits") ? side(h, "debits").total : 0));
    const label = (name) => hours.map((h) => {
      const s = side(h, name);
      return s ? F.money(s.total, code) + " (" + F.count(s.count) + ")" : "0";
    });
    const chart = $("money-chart");
    chart.dataset.currency = code || "";
    chart.dataset.points = String(xs.length);
    chart.dataset.first = hours.length ? hours[0].hour : "";
    chart.setAttribute("aria-label", code ? "Money in and out per hour in " + code
      : "Money in and out per hour: nothing in this window");
    $("money-note").textContent = code ? "Credits above the line, debits below it, in " + code +
      ". Point at a bar for its exact amounts." : "No transactions in this window.";
    moneyChart.set(xs, [credits, debits], [label("credits"), label("debits")]);
  }

  function pickIndex(index) {
    const hour = state.hours[index];
    if (hour) pickHour(hour.hour);
  }

  function pickHour(hour) {
    state.focus = hour;
    countChart.redraw();
    moneyChart.redraw();
    refresh();
  }

  function clearPick() {
    if (!state.focus) return;
    state.focus = null;
    if (countChart) { countChart.redraw(); moneyChart.redraw(); }
    refresh();
  }

  function stepPick(step) {
    // from the picked hour, or (nothing picked) from the newest hour with data
    const at = state.hours.findIndex((h) => h.hour === state.focus);
    let index = at;
    if (at < 0) {
      index = state.hours.length - 1;
      while (index > 0 && state.hours[index].count === 0) index -= 1;
    } else {
      index = Math.min(Math.max(at + step, 0), state.hours.length - 1);
    }
    if (state.hours[index] && state.hours[index].hour !== state.focus) pickIndex(index);
  }

  function chartKeys(event) {
    const steps = { ArrowLeft: -1, ArrowRight: 1 };
    if (event.key in steps) { event.preventDefault(); stepPick(steps[event.key]); }
    if (event.key === "Escape") { event.preventDefault(); clearPick(); }
  }

  window.addEventListener("resize", () => {
    if (countChart) { countChart.resize(); moneyChart.resize(); }
  });

  function changeRange(event) {
    state.range = event.target.value;
    state.focus = null;
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
    const items = [["Account", summary.account], ["Transactions", F.count(summary.count)],
      ["Flagged", F.count(summary.flags.count)], ["Last activity", timeText(summary.last_activity || "")]];
    for (const code of Object.keys(summary.totals).sort()) {
      const t = summary.totals[code];
      items.push(["Net " + code, F.money(t.net, code) + " (" + F.count(t.credits.count) +
        " credits, " + F.count(t.debits.count) + " debits)"]);
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
    if (!ACCOUNT_RULE.test(account)) {
      $("account-detail").hidden = true;
      $("account-message").textContent = "An account number is 1 to 34 letters, digits, " +
        "dots, underscores, colons or hyphens.";
      return;
    }
    openAccount(account);
  }

  // ---- wiring ----
  let alertQueue = null;

  function init() {
    alertQueue = TxnAlerts.queue({
      api: api, el: el, cell: cell, flagDetails: flagDetails, accountButton: accountButton,
      timeText: timeText, ruleText: ruleText, emptyRow: emptyRow, accountRule: ACCOUNT_RULE,
      F: F, signOut: signOut,
    });
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
    $("focus-clear").addEventListener("click", clearPick);
    $("focus-prev").addEventListener("click", () => stepPick(-1));
    $("focus-next").addEventListener("click", () => stepPick(1));
    for (const id of ["chart", "money-chart"]) $(id).addEventListener("keydown", chartKeys);
    $("money-currency").addEventListener("change", (event) => {
      state.currency = event.target.value;
      renderMoney(state.hours.map((h) => Date.parse(h.hour) / 1000), state.hours);
    });
    $("flagged-filter").addEventListener("submit", (event) => event.preventDefault());
    $("filter-rule").addEventListener("change", renderFlagged);
    $("filter-account").addEventListener("input", renderFlagged);
    if (credential()) start();
    else showSignIn("");
  }

  init();
})();
