// Call records on the calls page: the month's blocked calls with their reasons (Relay cursor
// pages of callRecords, filtered BLOCKED and to the month), and the recent calls of every
// status, which the page keeps up to date from the callRated subscription.
import { gql } from "./api.js";
import {
  callTypeText,
  destinationCell,
  monthRange,
  reasonText,
  statusBadge,
  userCell,
} from "./calls-format.js";
import { failureText, h, present, refocusPager, section, table } from "./dom.js";
import { dateTime, moneyOf, number, pageTotal, t, total } from "./i18n.js";

const PAGE = 10;
const RECENT = 10;

export const CALL_FIELDS = `id callId userPrincipalName displayName startedAt durationSeconds
  destination destinationCountry callType status reason minutes poolMinutes chargedMinutes
  cost { amount currency }`;

const RECORDS = `query CallRecords($first: Int!, $after: String, $filter: CallRecordFilter) {
  callRecords(first: $first, after: $after, filter: $filter) {
    totalCount
    totalCountIsCapped
    pageInfo { hasNextPage endCursor }
    nodes { ${CALL_FIELDS} }
  }
}`;

// The month's blocked calls, a page at a time. Cursors only go forward: the cursors of the
// pages seen are kept to go back.
export function blockedCalls() {
  const body = h("div", { id: "blocked-calls" });
  const state = { month: null, cursors: [null], page: 0 };

  // Page `page` (by `cursors`) of `month`; state says where the table is only once it shows it,
  // so a failed page turn leaves the numbering as it was.
  async function load({ page = state.page, cursors = state.cursors, month = state.month } = {}) {
    const data = await gql(RECORDS, {
      first: PAGE,
      after: cursors[page],
      filter: { status: "BLOCKED", ...monthRange(month) },
    });
    Object.assign(state, { page, cursors, month });
    const conn = data.callRecords;
    const rows = conn.nodes.map((c) => [
      dateTime(c.startedAt),
      userCell(c),
      destinationCell(c),
      callTypeText(c.callType),
      number(c.minutes),
      h("span", { class: "call-status call-blocked" }, `✕ ${reasonText(c.reason)}`),
    ]);
    const prev = h("button", { type: "button", disabled: state.page === 0 }, t("calls.blocked.previous"));
    const next = h("button", { type: "button", disabled: !conn.pageInfo.hasNextPage }, t("calls.blocked.next"));
    const go = (page, index, cursors = state.cursors) => {
      load({ page, cursors }).then(
        () => refocusPager(body, index),
        (error) => body.prepend(h("p", { class: "form-message error", role: "alert" }, `⚠ ${failureText(error)}`)),
      );
    };
    prev.addEventListener("click", () => go(state.page - 1, 0));
    next.addEventListener("click", () => {
      const cursors = state.cursors.slice(0, state.page + 1);
      cursors[state.page + 1] = conn.pageInfo.endCursor;
      go(state.page + 1, 1, cursors);
    });
    body.replaceChildren(
      ...present(
      table(
        t("calls.blocked.caption", { total: total(conn) }),
        [
          t("calls.col.started"),
          t("calls.col.user"),
          t("calls.col.destination"),
          t("calls.col.type"),
          t("calls.col.minutes"),
          t("calls.col.reason"),
        ],
        rows,
        t("calls.blocked.empty"),
      ),
      conn.totalCount > PAGE
        ? h(
            "nav",
            { class: "pager", "aria-label": t("calls.blocked.pages") },
            prev,
            h("span", { "aria-live": "polite" }, t("calls.blocked.page", { page: number(state.page + 1), pages: pageTotal(conn, PAGE) })),
            next,
          )
        : null,
      ),
    );
  }

  return {
    element: section("calls.blocked.title", body),
    state,
    // A new month starts at its first page.
    show(month) {
      return load({ month, page: 0, cursors: [null] });
    },
    load,
  };
}

// The newest calls of any status; live calls are put on top as they are rated.
export function recentCalls() {
  const body = h("div", { id: "recent-calls" });
  const news = h("p", { id: "recent-news", class: "hint", role: "status" });
  let calls = [];

  function draw() {
    const rows = calls.map((c) => [
      dateTime(c.startedAt),
      userCell(c),
      destinationCell(c),
      callTypeText(c.callType),
      t("calls.recent.minutes", { minutes: number(c.minutes), pool: number(c.poolMinutes), charged: number(c.chargedMinutes) }),
      moneyOf(c.cost),
      statusBadge(c),
    ]);
    body.replaceChildren(
      table(
        t("calls.recent.caption", { n: number(rows.length) }),
        [
          t("calls.col.started"),
          t("calls.col.user"),
          t("calls.col.destination"),
          t("calls.col.type"),
          t("calls.col.minutesSplit"),
          t("calls.col.charge"),
          t("calls.col.status"),
        ],
        rows,
        t("calls.recent.empty"),
      ),
    );
  }

  return {
    element: section("calls.recent.title", h("p", { class: "hint" }, t("calls.recent.intro")), news, body),
    async load() {
      const data = await gql(RECORDS, { first: RECENT, after: null, filter: null });
      calls = data.callRecords.nodes;
      draw();
    },
    add(call) {
      calls = [call, ...calls.filter((c) => c.id !== call.id)].slice(0, RECENT);
      draw();
      news.textContent = t("calls.recent.news", {
        user: call.displayName || call.userPrincipalName,
        destination: call.destination,
        status: call.status === "BLOCKED" ? `${t("calls.status.BLOCKED")} (${reasonText(call.reason)})` : t("calls.status.RATED"),
      });
    },
  };
}
