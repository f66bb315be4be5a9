// Language and locale formatting. Strings live in locales/<lang>.js (one flat object each,
// keys shared); the language comes from localStorage, else the browser's, else English.
// Money, numbers and dates go through Intl, so German shows "1.234,56 €".
import de from "./locales/de.js";
import en from "./locales/en.js";

const DICTIONARIES = { en, de };
const LOCALES = { en: "en-US", de: "de-DE" };
const STORAGE_KEY = "commcredits.console.lang";
export const LANGUAGES = Object.keys(DICTIONARIES);

function initial() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved in DICTIONARIES) return saved;
  } catch {
    // Storage can be off (privacy settings): the browser's language still works.
  }
  for (const wanted of navigator.languages || [navigator.language || "en"]) {
    const code = String(wanted).slice(0, 2).toLowerCase();
    if (code in DICTIONARIES) return code;
  }
  return "en";
}

let lang = initial();
const listeners = new Set();

export function language() {
  return lang;
}

export function locale() {
  return LOCALES[lang];
}

export function setLanguage(next) {
  if (!(next in DICTIONARIES)) return;
  lang = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // not remembered, still switched
  }
  document.documentElement.lang = next;
  for (const listener of listeners) listener(next);
}

export function onLanguageChange(listener) {
  listeners.add(listener);
}

// t("credits.asOf", { when: "…" }): the string for the current language, {name}s filled in.
export function t(key, params) {
  const text = DICTIONARIES[lang][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (params && name in params ? params[name] : `{${name}}`));
}

export function has(key) {
  return key in DICTIONARIES[lang] || key in en;
}

// A userError in words: ours for the codes we know, else the API's own message. `currency`
// (the tenant's) fills in how many decimals its amounts may have.
export function errorText(userError, { currency } = {}) {
  const places = currency ? decimals(currency) : 2;
  const key = userError.code === "INVALID_PRECISION" && places === 0 ? "error.INVALID_PRECISION_WHOLE" : `error.${userError.code}`;
  return has(key) ? t(key, { decimals: number(places), currency: currency || "" }) : userError.message;
}

// How many decimals `currency`'s amounts have (EUR 2, JPY 0, BHD 3), as Intl knows them.
export function decimals(currency) {
  return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
}

// Decimal strings from the API ("1234.56", a per-minute "0.0180") shown as money of `currency`
// in the locale, exactly: at least the currency's own decimals, and every decimal the string
// has (the string itself is formatted, never a float rounded to cents).
export function money(amount, currency) {
  if (amount === null || amount === undefined) return "—";
  const text = String(amount);
  const own = decimals(currency);
  const given = /^-?\d+(\.\d+)?$/.test(text) ? (text.split(".")[1] || "").length : 0;
  return new Intl.NumberFormat(locale(), {
    style: "currency",
    currency,
    minimumFractionDigits: own,
    maximumFractionDigits: Math.min(20, Math.max(own, given)),
  }).format(given ? text : Number(amount));
}

// "100 or 100.50": example amounts for a hint, with the currency's decimals (just "100" for yen).
export function amountExamples(currency) {
  const places = decimals(currency);
  if (!places) return number(100);
  const fraction = new Intl.NumberFormat(locale(), { minimumFractionDigits: places, useGrouping: false }).format(100.5);
  return t("amount.examples", { whole: number(100), fraction });
}

export function moneyOf(value) {
  return value ? money(value.amount, value.currency) : "—";
}

export function number(value) {
  return new Intl.NumberFormat(locale()).format(value);
}

// A list's totalCount as the server gave it: the large lists stop counting at 10,000 and say
// so (totalCountIsCapped), shown as "10,000+" rather than as the number of rows there are.
export function total(conn) {
  return number(conn.totalCount) + (conn.totalCountIsCapped ? "+" : "");
}

// How many pages of `size` a list has, "400+" when its count stopped at the cap.
export function pageTotal(conn, size) {
  return number(Math.max(1, Math.ceil(conn.totalCount / size))) + (conn.totalCountIsCapped ? "+" : "");
}

export function dateTime(iso) {
  if (!iso) return "—";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(
    new Date(iso),
  );
}

export function date(iso) {
  if (!iso) return "—";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium" }).format(new Date(iso));
}

// An amount for an input field: "50,00" in German, "50.00" in English (no grouping, no
// currency sign), the form parseAmount reads back.
export function amountInput(amount) {
  if (amount === null || amount === undefined) return "";
  return new Intl.NumberFormat(locale(), {
    minimumFractionDigits: 2,
    maximumFractionDigits: 20,
    useGrouping: false,
  }).format(Number(amount));
}

// What a person typed, as the API's Decimal string, or null when it is no number. German
// input may use a decimal comma and dots or spaces for thousands ("1.234,56"); a dot followed by
// groups of exactly three digits groups too ("1.000" is a thousand, as a German reader means
// it), other dots are decimal points ("100.5"). English: a decimal point and commas for
// thousands ("1,000.50"); a comma anywhere else is no English number ("1,5" is refused, not
// read as 15). The API checks the value itself (precision, range).
export function parseAmount(text) {
  let s = String(text).trim().replace(/[\s\u00a0\u202f€$£¥]/g, "");
  if (lang === "de") {
    if (s.includes(",")) {
      if (!/^-?(\d+|\d{1,3}(\.\d{3})+),\d*$/.test(s)) return null;
      s = s.replace(/\./g, "").replace(",", ".").replace(/\.$/, "");
    } else if (/^-?[1-9]\d{0,2}(\.\d{3})+$/.test(s)) {
      s = s.replace(/\./g, "");
    }
  } else if (s.includes(",")) {
    if (!/^-?\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) return null;
    s = s.replace(/,/g, "");
  }
  return /^-?\d+(\.\d+)?$/.test(s) ? s : null;
}
