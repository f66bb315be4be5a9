// Notifications and audit entries in words: a notification's kind and payload summed up, its
// delivery status with a symbol (never colour alone), an audit action in words beside its API
// name, and an entry's before/after as the keys that changed. Everything from the API ends up
// as text through h() (never markup).
import { h } from "./dom.js";
import { dateTime, has, money, number, t } from "./i18n.js";

const DELIVERY_SYMBOL = { DELIVERED: "✓", PENDING: "…", FAILED: "✕", NONE: "–" };
const MAX_KEYS = 12;
const MAX_VALUE = 120;

export function kindText(kind) {
  return has(`activity.kind.${kind}`) ? t(`activity.kind.${kind}`) : kind;
}

export function deliveryBadge(status) {
  const words = has(`activity.delivery.${status}`) ? t(`activity.delivery.${status}`) : status;
  return h(
    "span",
    { class: `status delivery-${String(status).toLowerCase()}` },
    `${DELIVERY_SYMBOL[status] || "•"} ${words}`,
  );
}

function text(value) {
  if (value === null || value === undefined || value === "") return "—";
  const s = typeof value === "string" ? value : JSON.stringify(value);
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE - 1)}…` : s;
}

function amountOf(amount, currency) {
  return amount !== undefined && currency ? money(amount, currency) : text(amount);
}

// The payload of a notification in one sentence; unknown kinds list their fields.
export function payloadText(kind, payload, tenantCurrency) {
  const p = payload && typeof payload === "object" ? payload : {};
  const currency = p.currency || tenantCurrency;
  switch (kind) {
    case "RECHARGE_SUCCEEDED":
      return t("activity.payload.recharged", { amount: amountOf(p.amount, currency), invoice: text(p.invoiceNumber) });
    case "RECHARGE_FAILED":
      return t("activity.payload.rechargeFailed", {
        amount: amountOf(p.amount, currency),
        invoice: text(p.invoiceNumber),
        reason: text(p.reason),
        retry: p.retryAfter ? dateTime(p.retryAfter) : "—",
      });
    case "RECHARGE_CAPPED":
      return t("activity.payload.capped", { max: text(p.maxRechargesPerDay), day: text(p.day) });
    case "BALANCE_ZERO":
      return t("activity.payload.zero", { balance: amountOf(p.balance ?? "0", currency) });
    case "CREDIT_LIMIT_REACHED":
      return t("activity.payload.limit", { limit: amountOf(p.creditLimit, currency), period: text(p.period) });
    case "POOL_80_PERCENT":
    case "POOL_100_PERCENT":
      return t("activity.payload.pool", {
        used: typeof p.used === "number" ? number(p.used) : text(p.used),
        granted: typeof p.granted === "number" ? number(p.granted) : text(p.granted),
        plan: text(p.plan),
        country: text(p.country),
        month: text(p.month),
      });
    default:
      return Object.entries(p).map(([k, v]) => `${k}: ${text(v)}`).join("; ") || "—";
  }
}

export function actionText(action) {
  const key = `activity.action.${action}`;
  return has(key)
    ? h("span", null, t(key), " ", h("code", { class: "audit-action" }, action))
    : h("code", { class: "audit-action" }, action);
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// [key, before, after] for each key whose value differs (a whole value when not objects).
export function changedKeys(before, after) {
  if (!isObject(before) && !isObject(after)) {
    return JSON.stringify(before) === JSON.stringify(after) ? [] : [["", before, after]];
  }
  const b = isObject(before) ? before : {};
  const a = isObject(after) ? after : {};
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].sort();
  // A key missing on one side and null on the other did not change.
  const same = (k) => JSON.stringify(b[k] ?? null) === JSON.stringify(a[k] ?? null);
  return keys.filter((k) => !same(k)).map((k) => [k, b[k], a[k]]);
}

// The changes as a list: "key: before → after" ("—" where a side has none).
export function diffList(before, after) {
  const changes = changedKeys(before, after);
  if (!changes.length) return h("span", { class: "empty" }, t("activity.noChanges"));
  const shown = changes.slice(0, MAX_KEYS).map(([key, was, now]) =>
    h(
      "li",
      null,
      key ? h("span", { class: "audit-key" }, `${key}: `) : null,
      h("span", { class: "audit-before" }, text(was)),
      h("span", { class: "audit-arrow" }, " → "),
      h("span", { class: "audit-after" }, text(now)),
    ),
  );
  if (changes.length > MAX_KEYS) {
    shown.push(h("li", null, t("activity.moreChanges", { n: number(changes.length - MAX_KEYS) })));
  }
  return h("ul", { class: "audit-diff" }, shown);
}
