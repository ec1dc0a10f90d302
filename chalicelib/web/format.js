// Figures for the reader, made from the API's own text: an amount stays a decimal string from the
// JSON to the page (no JavaScript number ever holds one), grouped in thousands and written with
// its currency's minor digits. Pure functions, no DOM: tests/unit/web/test_format_js.py runs them
// in node, and the dashboard (app.js) loads this file first.
"use strict";
const TxnFormat = (function () {
  // Minor digits of the currencies the API accepts where they are not DEFAULT_DIGITS: the same
  // as chalicelib/domain/money.py MINOR_UNITS (tests/unit/web/test_dashboard.py compares them).
  const MINOR_DIGITS = Object.freeze({ JPY: 0, KRW: 0 });
  const DEFAULT_DIGITS = 2;
  const DECIMAL = /^(-?)([0-9]+)(?:\.([0-9]+))?$/;
  const WHOLE = /^(-?)([0-9]+)$/;

  function digits(currency) {
    return Object.prototype.hasOwnProperty.call(MINOR_DIGITS, currency)
      ? MINOR_DIGITS[currency] : DEFAULT_DIGITS;
  }

  // "0001234567" -> "1,234,567": digits only, three at a time from the right.
  function group(whole) {
    const digitsOnly = whole.replace(/^0+(?=[0-9])/, "");
    const parts = [];
    for (let end = digitsOnly.length; end > 0; end -= 3) {
      parts.unshift(digitsOnly.slice(Math.max(0, end - 3), end));
    }
    return parts.join(",");
  }

  // A decimal string as the reader expects it: "1234567.5" USD -> "1,234,567.50", "30577406"
  // JPY -> "30,577,406". Fewer decimals than the currency's are padded with zeros; more are kept
  // unless they are zeros (never rounded: a figure shown is the exact figure). Anything that is
  // not a plain decimal string is returned as it came, as text.
  function amount(text, currency) {
    const match = DECIMAL.exec(String(text));
    if (!match) return String(text);
    const [, sign, whole, fraction = ""] = match;
    const places = digits(currency);
    let decimals = fraction;
    while (decimals.length > places && decimals.endsWith("0")) decimals = decimals.slice(0, -1);
    decimals = decimals.padEnd(places, "0");
    return sign + group(whole) + (decimals ? "." + decimals : "");
  }

  function money(text, currency) {
    return amount(text, currency) + " " + currency;
  }

  // A count (a JSON integer, or its digits as text) with thousands separators: 30577406 ->
  // "30,577,406". Anything else is returned as text, unchanged.
  function count(value) {
    const text = typeof value === "number" && Number.isSafeInteger(value) ? String(value)
      : typeof value === "string" ? value : null;
    const match = text === null ? null : WHOLE.exec(text);
    return match ? match[1] + group(match[2]) : String(value);
  }

  // `part` of `whole` as a percentage with one decimal ("1.4%"); a ratio of two counts, so a
  // float is fine here. "<0.1%" rather than a misleading "0.0%"; "–" when there is no whole.
  function percent(part, whole) {
    if (!(whole > 0)) return "–";
    if (part > 0 && (part * 1000) / whole < 1) return "<0.1%";
    return (Math.round((part * 1000) / whole) / 10).toFixed(1) + "%";
  }

  return Object.freeze({ MINOR_DIGITS, DEFAULT_DIGITS, digits, amount, money, count, percent });
})();
if (typeof module === "object" && module !== null && module.exports) module.exports = TxnFormat;
