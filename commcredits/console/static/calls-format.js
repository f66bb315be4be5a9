// The calls area's words and months: reasons a call is blocked, call types, countries and
// the month (YYYY-MM, in UTC as the API counts them) the page shows.
import { h } from "./dom.js";
import { has, locale, t } from "./i18n.js";

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

// The month now, in UTC (the server's months are UTC months).
export function currentMonth() {
  return new Date().toISOString().slice(0, 7);
}

// The month of ?month=YYYY-MM, else the current one.
export function monthFromUrl() {
  const wanted = new URLSearchParams(location.search).get("month");
  return wanted && MONTH.test(wanted) ? wanted : currentMonth();
}

export function addMonths(month, delta) {
  const [, y, m] = MONTH.exec(month);
  const d = new Date(Date.UTC(Number(y), Number(m) - 1 + delta, 1));
  return d.toISOString().slice(0, 7);
}

// The month as a DateTime range [from, to) for callRecords' filter.
export function monthRange(month) {
  return { from: `${month}-01T00:00:00Z`, to: `${addMonths(month, 1)}-01T00:00:00Z` };
}

export function monthLabel(month) {
  const [, y, m] = MONTH.exec(month);
  return new Intl.DateTimeFormat(locale(), { month: "long", year: "numeric", timeZone: "UTC" }).format(
    new Date(Date.UTC(Number(y), Number(m) - 1, 1)),
  );
}

// The months to choose from: the last two years, and the one asked for if it is elsewhere.
export function monthChoices(selected) {
  const now = currentMonth();
  const months = Array.from({ length: 24 }, (_, i) => addMonths(now, -i));
  if (!months.includes(selected)) months.push(selected);
  return months.sort().reverse();
}

// A country code in words ("DE" → "Deutschland"); "" is the tenant-wide pool.
export function countryText(code) {
  if (!code) return t("calls.country.tenantWide");
  try {
    return new Intl.DisplayNames([locale()], { type: "region" }).of(code) || code;
  } catch {
    return code;
  }
}

export function callTypeText(type) {
  const key = `calls.type.${type}`;
  return has(key) ? t(key) : type;
}

// Why a call is (or would be) blocked, in words; an unknown code is shown as it is.
export function reasonText(reason) {
  if (!reason) return "—";
  const key = `calls.reason.${reason}`;
  return has(key) ? t(key) : reason;
}

// RATED or BLOCKED with a symbol and words (and the reason), never by colour alone.
export function statusBadge(call) {
  const blocked = call.status === "BLOCKED";
  return h(
    "span",
    { class: `call-status ${blocked ? "call-blocked" : "call-rated"}` },
    blocked ? `✕ ${t("calls.status.BLOCKED")}: ${reasonText(call.reason)}` : `✓ ${t("calls.status.RATED")}`,
  );
}

// Who called: the display name with the user principal name below it.
export function userCell(call) {
  return h(
    "span",
    { class: "call-user" },
    call.displayName || call.userPrincipalName,
    call.displayName ? h("span", { class: "call-upn" }, call.userPrincipalName) : null,
  );
}

export function destinationCell(call) {
  return call.destinationCountry
    ? `${call.destination} (${countryText(call.destinationCountry)})`
    : call.destination;
}

export function monthOf(iso) {
  return new Date(iso).toISOString().slice(0, 7);
}
