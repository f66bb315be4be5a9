// The audit log on the activity page: who did what to which target and when, with the keys
// the change touched (before → after), newest first by Relay cursor pages, filtered by action
// and target type. The filter lives in the URL query (?action=purchaseCredits&target=Invoice),
// so a reload or a shared link keeps it; applying one adds a history entry and starts again at
// page 1.
import { gql } from "./api.js";
import { actionText, diffList } from "./activity-format.js";
import { cursorTable } from "./activity-pager.js";
import { failureText, field, formMessage, h, section, showMessage } from "./dom.js";
import { dateTime, t, total } from "./i18n.js";

const PAGE = 10;
// Suggestions for the filter fields (the API takes any text: these are the common ones).
const ACTIONS = [
  "purchaseCredits", "autoRecharge", "autoRechargeFailed", "autoRechargeCapped", "purchaseDeclined",
  "configureAutoRecharge", "updateBillingProfile", "adjustCredits", "expireCredits",
  "createApiKey", "revokeApiKey", "createUser", "updateUser", "deleteUser", "setWebhook",
];
const TARGETS = ["Invoice", "AutoRecharge", "BillingProfile", "ApiKey", "User", "Tenant", "Webhook"];

const AUDIT = `query ActivityAudit($first: Int!, $after: String, $filter: AuditLogFilter) {
  auditLog(first: $first, after: $after, filter: $filter) {
    totalCount
    totalCountIsCapped
    pageInfo { hasNextPage endCursor }
    nodes { id actor action targetType targetId before after at }
  }
}`;

export function auditFilterFromUrl(search = location.search) {
  const params = new URLSearchParams(search);
  return {
    action: (params.get("action") || "").slice(0, 64),
    targetType: (params.get("target") || "").slice(0, 64),
  };
}

function urlOf(filter) {
  const params = new URLSearchParams(location.search);
  for (const [name, value] of [["action", filter.action], ["target", filter.targetType]]) {
    if (value) params.set(name, value);
    else params.delete(name);
  }
  const query = params.toString();
  return location.pathname + (query ? `?${query}` : "");
}

function suggestions(id, values) {
  return h("datalist", { id }, values.map((v) => h("option", { value: v })));
}

function filterForm(initial, onApply) {
  const action = field({ name: "audit-action", label: t("activity.filterAction"), value: initial.action, hint: t("activity.filterActionHint"), attrs: { list: "audit-actions", autocomplete: "off" } });
  const target = field({ name: "audit-target", label: t("activity.filterTarget"), value: initial.targetType, hint: t("activity.filterTargetHint"), attrs: { list: "audit-targets", autocomplete: "off" } });
  const general = formMessage();
  const reset = h("button", { type: "button" }, t("activity.filterReset"));
  const form = h(
    "form",
    { class: "audit-filter", novalidate: true, "aria-label": t("activity.filterLabel") },
    h("div", { class: "audit-fields" }, action.wrap, target.wrap),
    suggestions("audit-actions", ACTIONS),
    suggestions("audit-targets", TARGETS),
    general,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("activity.filterApply")), reset),
  );
  const read = () => ({ action: action.input.value.trim(), targetType: target.input.value.trim() });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onApply(read());
  });
  reset.addEventListener("click", () => {
    action.input.value = "";
    target.input.value = "";
    onApply(read());
  });
  return { form, general };
}

function apiFilter(filter) {
  const out = {};
  if (filter.action) out.action = filter.action;
  if (filter.targetType) out.targetType = filter.targetType;
  return Object.keys(out).length ? out : null;
}

// { element, load }: the section and its first read (which throws, for the page to show).
export function auditSection() {
  const status = h("p", { class: "activity-status", role: "status" });
  const pager = cursorTable({
    id: "audit-log",
    size: PAGE,
    query: auditFilterFromUrl(),
    async fetchPage(first, after, filter) {
      const data = await gql(AUDIT, { first, after, filter: apiFilter(filter) });
      return data.auditLog;
    },
    caption: (conn, filter) =>
      apiFilter(filter)
        ? t("activity.auditCaptionFiltered", { n: total(conn) })
        : t("activity.auditCaption", { n: total(conn) }),
    headers: () => [t("activity.colWhen"), t("activity.colActor"), t("activity.colAction"), t("activity.colTarget"), t("activity.colChanges")],
    row: (e) => [
      dateTime(e.at),
      h("span", { class: "audit-actor" }, e.actor),
      actionText(e.action),
      `${e.targetType} ${e.targetId}`,
      diffList(e.before, e.after),
    ],
    empty: (filter) => (apiFilter(filter) ? t("activity.auditNoneFiltered") : t("activity.auditNone")),
    pagesLabel: () => t("activity.auditPages"),
  });
  // The filter (and its URL) changes only once the log shows its rows: a failed read leaves the
  // previous filter, rows and address, and says why, instead of a count for rows of the old one.
  const controls = filterForm(pager.state.query, (wanted) => {
    pager
      .show({ query: wanted, page: 0, cursors: [null] })
      .then(() => {
        const url = urlOf(wanted);
        if (url !== location.pathname + location.search) history.pushState(history.state, "", url);
        showMessage(controls.general, "");
        status.textContent = t("activity.filterResult", { n: total(pager.state.conn) });
      })
      .catch((error) => showMessage(controls.general, failureText(error)));
  });
  return {
    element: section("activity.audit", controls.form, status, pager.body),
    load: pager.load,
  };
}
