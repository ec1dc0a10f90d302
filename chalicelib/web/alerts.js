// The alert queue: GET /alerts filtered by status, rule and account (the API filters and pages
// with its signed cursor), each alert with its flags' evidence, and the analyst's actions:
// confirm, dismiss, reopen (POST /alerts/{id} with the row's note) and snooze (a suppression of
// each of the alert's rules for its account, for a week, then the alert dismissed). Text only,
// never HTML; amounts through format.js from the API's decimal strings. No credential here:
// app.js hands in its `api` (the one place a credential is added).
"use strict";
const TxnAlerts = (function () {
  const SNOOZE_DAYS = 7;
  const DAY_MS = 24 * 3600 * 1000;
  const PAGE = 20;

  // h: app.js's helpers (api, el, cell, flagDetails, accountButton, timeText, ruleText,
  // emptyRow, accountRule, F, signOut)
  function queue(h) {
    const $ = (id) => document.getElementById(id);
    const state = { alerts: [], cursor: null, loading: false, rules: [] };

    function filter() {
      return { status: $("alerts-status").value, rule: $("alerts-rule").value,
               account: $("alerts-account").value.trim() };
    }

    function query(cursor) {
      const f = filter();
      const params = new URLSearchParams({ limit: String(PAGE) });
      for (const name of ["status", "rule", "account"]) if (f[name]) params.set(name, f[name]);
      if (cursor) params.set("cursor", cursor);
      return "alerts?" + params.toString();
    }

    function message(text) { $("alerts-message").textContent = text; }

    function busy() {
      // a half-typed note or a pressed button is never wiped by the refresh loop
      const table = $("alerts");
      return state.loading || table.contains(document.activeElement) ||
        [...table.querySelectorAll("input.note")].some((input) => input.value !== "");
    }

    async function load(more) {
      const f = filter();
      if (f.account && !h.accountRule.test(f.account)) {
        message("An account number is 1 to 34 letters, digits and . _ : - (not . or ..).");
        return;
      }
      state.loading = true;
      try {
        const page = await h.api(query(more ? state.cursor : null));
        state.alerts = more ? state.alerts.concat(page.alerts) : page.alerts;
        state.cursor = page.next_cursor;
        message("");
        render();
      } catch (err) {
        if (err.auth) { h.signOut(err.message); return; }
        message("Could not load the alerts: " + err.message + ".");
      } finally {
        state.loading = false;
      }
    }

    function setRules(rules) {
      const chosen = $("alerts-rule").value;
      const all = [...new Set(rules.concat(chosen ? [chosen] : []))].sort();
      if (all.join() === state.rules.join()) return;  // an open menu stays open
      state.rules = all;
      const options = [h.el("option", null, "All rules")];
      options[0].value = "";
      for (const rule of all) {
        const option = h.el("option", null, h.ruleText(rule));
        option.value = rule;
        options.push(option);
      }
      $("alerts-rule").replaceChildren(...options);
      $("alerts-rule").value = chosen;
    }

    function lastStep(alert) {
      const step = alert.history[alert.history.length - 1];
      if (!step) return "opened " + h.timeText(alert.opened_at);
      return step.status + " by " + step.by + " " + h.timeText(step.at) +
        (step.note ? ": " + step.note : "");
    }

    function actionButton(label, name, run) {
      const button = h.el("button", "action", label);
      button.type = "button";
      button.dataset.action = name;
      button.addEventListener("click", run);
      return button;
    }

    async function act(alert, row, run) {
      for (const button of row.querySelectorAll("button.action")) button.disabled = true;
      try {
        await run(row.querySelector("input.note").value);
        row.querySelector("input.note").value = "";
        message("");
        await load(false);
      } catch (err) {
        if (err.auth) { h.signOut(err.message); return; }
        message("Could not change alert " + alert.transaction_id + ": " + err.message + ".");
        for (const button of row.querySelectorAll("button.action")) button.disabled = false;
      }
    }

    function triage(alert, status, note) {
      return h.api("alerts/" + encodeURIComponent(alert.transaction_id),
                   { method: "POST", body: { status: status, note: note } });
    }

    async function snooze(alert, note) {
      const until = new Date(Date.now() + SNOOZE_DAYS * DAY_MS).toISOString().slice(0, 19) + "Z";
      const reason = note || ("snoozed from the alert queue on alert " + alert.transaction_id);
      for (const rule of alert.rules) {
        await h.api("suppressions", { method: "POST",
          body: { account: alert.account, rule: rule, until: until, reason: reason } });
      }
      await triage(alert, "dismissed", "snoozed " + SNOOZE_DAYS + " days" +
                   (note ? ": " + note : ""));
    }

    function row(alert) {
      const tx = alert.transaction;
      const tr = h.el("tr");
      tr.dataset.id = alert.transaction_id;
      tr.dataset.status = alert.status;
      h.cell(tr, h.timeText(tx.timestamp), "time", "Time");
      h.cell(tr, null, null, "Account").appendChild(h.accountButton(alert.account));
      h.cell(tr, h.F.money(tx.amount, tx.currency), "num", "Amount");
      h.cell(tr, null, "rules-list", "Rules").appendChild(h.flagDetails(tx));
      const status = h.cell(tr, null, "status", "Status");
      status.appendChild(h.el("strong", "alert-status", alert.status));
      status.appendChild(h.el("div", "muted last-step", lastStep(alert)));
      const actions = h.el("div", "actions");
      const note = h.el("input", "note");
      note.type = "text";
      note.maxLength = 1000;
      note.placeholder = "note";
      const label = h.el("label");  // a real label: every control on the page has one
      label.appendChild(h.el("span", "visually-hidden", "Note on alert " + alert.transaction_id));
      label.appendChild(note);
      actions.appendChild(label);
      const run = (fn) => () => act(alert, tr, fn);
      if (alert.status !== "confirmed") {
        actions.appendChild(actionButton("Confirm", "confirm",
          run((n) => triage(alert, "confirmed", n))));
      }
      if (alert.status !== "dismissed") {
        actions.appendChild(actionButton("Dismiss", "dismiss",
          run((n) => triage(alert, "dismissed", n))));
      }
      if (alert.status !== "open") {
        actions.appendChild(actionButton("Reopen", "reopen", run((n) => triage(alert, "open", n))));
      }
      actions.appendChild(actionButton("Snooze " + SNOOZE_DAYS + " days", "snooze",
        run((n) => snooze(alert, n))));
      h.cell(tr, null, null, "Actions").appendChild(actions);
      return tr;
    }

    function render() {
      const rows = state.alerts.map(row);
      const f = filter();
      if (!rows.length) {
        rows.push(h.emptyRow(6, f.rule || f.account ? "No alert matches the filter."
          : "No " + (f.status || "") + " alerts."));
      }
      $("alerts").tBodies[0].replaceChildren(...rows);
      $("alerts-more").hidden = !state.cursor;
      $("alerts-note").textContent = state.alerts.length
        ? h.F.count(state.alerts.length) + (state.cursor ? " shown, newest first; more below."
          : " shown, newest first.") : "";
    }

    function refresh(rules) {
      setRules(rules);
      return busy() ? Promise.resolve() : load(false);
    }

    $("alerts-filter").addEventListener("submit", (event) => { event.preventDefault(); load(false); });
    $("alerts-status").addEventListener("change", () => load(false));
    $("alerts-rule").addEventListener("change", () => load(false));
    $("alerts-account").addEventListener("change", () => load(false));
    $("alerts-more").addEventListener("click", () => load(true));
    return { refresh: refresh };
  }

  return { queue: queue };
})();
