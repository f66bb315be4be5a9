// The ledger on the credits page: newest first, a page at a time, filtered by kind, reference
// and a date range. The filter lives in the URL query (?kind=FUNDED&kind=CONSUMED&ref=…&
// from=2026-11-01&to=2026-11-30), so a reload or a shared link keeps it; applying one adds a
// history entry (the back button re-renders the page with the previous filter) and starts
// again at page 1. Dates are the browser's days: `from` is its midnight, `to` includes the
// whole day (the API's `to` is exclusive, so it gets the next midnight).
import { gql } from "./api.js";
import { failureText, field, formMessage, h, refocusPager, section, showMessage, table, uid } from "./dom.js";
import { dateTime, moneyOf, number, pageTotal, t, total } from "./i18n.js";

const LEDGER_PAGE = 10;
export const KINDS = ["FUNDED", "CONSUMED", "EXPIRED", "ADJUSTED", "POSTPAID"];
const DAY = /^\d{4}-\d{2}-\d{2}$/;

const LEDGER = `query CreditsLedger($first: Int!, $after: String, $filter: CreditTransactionFilter) {
  tenant {
    creditTransactions(first: $first, after: $after, filter: $filter) {
      totalCount
      totalCountIsCapped
      pageInfo { hasNextPage endCursor }
      nodes { sequence kind amount { amount currency } balanceAfter { amount currency } reference createdAt }
    }
  }
}`;

// The filter the URL asks for (unknown kinds and malformed dates are left out).
export function filterFromUrl(search = location.search) {
  const params = new URLSearchParams(search);
  const day = (name) => (DAY.test(params.get(name) || "") ? params.get(name) : "");
  return {
    kinds: params.getAll("kind").filter((k) => KINDS.includes(k)),
    reference: (params.get("ref") || "").slice(0, 200),
    from: day("from"),
    to: day("to"),
  };
}

function urlOf(filter) {
  const params = new URLSearchParams();
  for (const kind of filter.kinds) params.append("kind", kind);
  if (filter.reference) params.set("ref", filter.reference);
  if (filter.from) params.set("from", filter.from);
  if (filter.to) params.set("to", filter.to);
  const query = params.toString();
  return location.pathname + (query ? `?${query}` : "");
}

function midnight(day, plusDays = 0) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y, m - 1, d + plusDays).toISOString();
}

// The API's CreditTransactionFilter, or null for no filter.
function apiFilter(filter) {
  const out = {};
  if (filter.kinds.length) out.kinds = filter.kinds;
  if (filter.reference) out.reference = filter.reference;
  if (filter.from) out.from = midnight(filter.from);
  if (filter.to) out.to = midnight(filter.to, 1);
  return Object.keys(out).length ? out : null;
}

function isFiltered(filter) {
  return apiFilter(filter) !== null;
}

function filterForm(initial, onApply) {
  const kinds = KINDS.map((kind) =>
    field({ name: `kind-${kind.toLowerCase()}`, label: t(`ledger.kind.${kind}`), type: "checkbox", value: initial.kinds.includes(kind) }),
  );
  const reference = field({ name: "ledger-ref", label: t("history.filterReference"), value: initial.reference, hint: t("history.filterReferenceHint") });
  const from = field({ name: "ledger-from", label: t("history.filterFrom"), type: "date", value: initial.from });
  const to = field({ name: "ledger-to", label: t("history.filterTo"), type: "date", value: initial.to });
  const general = formMessage();
  const legendId = uid("kinds");
  const reset = h("button", { type: "button" }, t("history.filterReset"));
  const form = h(
    "form",
    { class: "ledger-filter", novalidate: true, "aria-label": t("history.filterLabel") },
    h(
      "fieldset",
      { class: "ledger-kinds", "aria-labelledby": legendId },
      h("legend", { id: legendId }, t("history.filterKinds")),
      kinds.map((f) => f.wrap),
    ),
    h("div", { class: "ledger-fields" }, reference.wrap, from.wrap, to.wrap),
    general,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("history.filterApply")), reset),
  );
  function read() {
    return {
      kinds: KINDS.filter((_, i) => kinds[i].input.checked),
      reference: reference.input.value.trim(),
      from: from.input.value,
      to: to.input.value,
    };
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const wanted = read();
    to.setError("");
    if (wanted.from && wanted.to && wanted.to < wanted.from) {
      to.setError(t("history.filterToBeforeFrom"));
      to.input.focus();
      return;
    }
    onApply(wanted);
  });
  reset.addEventListener("click", () => {
    for (const f of kinds) f.input.checked = false;
    reference.input.value = "";
    from.input.value = "";
    to.input.value = "";
    to.setError("");
    onApply(read());
  });
  return { form, general };
}

// { element, load, state }: the section, a (re)load of the current page, and where it is.
export function ledgerSection() {
  const body = h("div", { id: "ledger" });
  const status = h("p", { class: "ledger-status", role: "status" });
  const state = { cursors: [null], page: 0, filter: filterFromUrl() };
  // The filter (and its URL) changes only once the ledger shows its rows: a failed read leaves
  // the previous filter, rows and address, and says why.
  const controls = filterForm(state.filter, (wanted) => {
    load({ filter: wanted, page: 0, cursors: [null] })
      .then(() => {
        const url = urlOf(wanted);
        if (url !== location.pathname + location.search) history.pushState(history.state, "", url);
        showMessage(controls.general, "");
        status.textContent = t("history.filterResult", { n: state.total });
      })
      .catch((error) => showMessage(controls.general, failureText(error)));
  });

  // Page `page` (by `cursors`) under `filter`; state says where the ledger is only once it
  // shows it, so a failed page turn leaves the numbering as it was.
  async function load({ page = state.page, cursors = state.cursors, filter = state.filter } = {}) {
    const data = await gql(LEDGER, {
      first: LEDGER_PAGE,
      after: cursors[page],
      filter: apiFilter(filter),
    });
    Object.assign(state, { page, cursors, filter });
    const conn = data.tenant.creditTransactions;
    state.total = total(conn);
    const rows = conn.nodes.map((e) => [
      String(e.sequence),
      dateTime(e.createdAt),
      t(`ledger.kind.${e.kind}`),
      moneyOf(e.amount),
      moneyOf(e.balanceAfter),
      e.reference,
    ]);
    const prev = h("button", { type: "button", disabled: state.page === 0 }, t("ledger.previous"));
    const next = h("button", { type: "button", disabled: !conn.pageInfo.hasNextPage }, t("ledger.next"));
    const turn = (delta, index) => {
      const cursors = state.cursors.slice(0, state.page + 1);
      if (delta > 0) cursors[state.page + 1] = conn.pageInfo.endCursor;
      load({ page: state.page + delta, cursors })
        .then(() => {
          showMessage(controls.general, "");
          refocusPager(body, index);
        })
        .catch((error) => showMessage(controls.general, failureText(error)));
    };
    prev.addEventListener("click", () => turn(-1, 0));
    next.addEventListener("click", () => turn(1, 1));
    const filtered = isFiltered(state.filter);
    body.replaceChildren(
      table(
        filtered ? t("history.ledgerCaptionFiltered", { n: total(conn) }) : t("ledger.caption"),
        ["#", t("col.when"), t("col.kind"), t("col.amount"), t("col.balanceAfter"), t("col.reference")],
        rows,
        filtered ? t("history.filterNone") : t("ledger.empty"),
      ),
      h(
        "nav",
        { class: "pager", "aria-label": t("ledger.pages") },
        prev,
        h("span", { "aria-live": "polite" }, t("ledger.page", { page: number(state.page + 1), pages: pageTotal(conn, LEDGER_PAGE) })),
        next,
      ),
    );
  }
  return { element: section("credits.ledger", controls.form, status, body), load, state };
}
