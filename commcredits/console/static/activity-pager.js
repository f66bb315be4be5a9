// A table read a page at a time by Relay cursors (first/after), for the activity page. Cursors
// only go forward, so the cursors of the pages seen are kept to go back (as the ledger does).
// `prepend(node)` puts a node that arrived live at the top of the first page without a re-read:
// the page then shows one row more, and its end cursor still points where the next page starts.
// `query` is what fetchPage, caption and empty are given besides (a filter); like the page and
// cursors it changes only once the table shows its rows (`show`), so a failed read leaves the
// table, its numbering and its filter as they were.
import { failureText, h, refocusPager, table } from "./dom.js";
import { number, pageTotal, t } from "./i18n.js";

export function cursorTable({ id, size, fetchPage, caption, headers, row, empty, pagesLabel, query = null }) {
  const body = h("div", { id });
  const state = { cursors: [null], page: 0, conn: null, fresh: new Set(), query };

  function paint() {
    const conn = state.conn;
    const prev = h("button", { type: "button", disabled: state.page === 0 }, t("activity.previous"));
    const next = h("button", { type: "button", disabled: !conn.pageInfo.hasNextPage }, t("activity.next"));
    const turn = (delta, index) => {
      const cursors = state.cursors.slice(0, state.page + 1);
      if (delta > 0) cursors[state.page + 1] = conn.pageInfo.endCursor;
      show({ page: state.page + delta, cursors }).then(
        () => refocusPager(body, index),
        (error) => failed(error),
      );
    };
    prev.addEventListener("click", () => turn(-1, 0));
    next.addEventListener("click", () => turn(1, 1));
    const rows = conn.nodes.map((node) => row(node, state.fresh.has(node.id)));
    body.replaceChildren(
      table(caption(conn, state.query), headers(), rows, empty(state.query)),
      h(
        "nav",
        { class: "pager", "aria-label": pagesLabel() },
        prev,
        h("span", null, t("activity.page", { page: number(state.page + 1), pages: pageTotal(conn, size) })),
        next,
      ),
    );
  }

  // A failure shown where the table was, above the rows it still shows.
  function failed(error) {
    body.querySelector(":scope > .pager-failure")?.remove();
    body.prepend(h("p", { class: "form-message error pager-failure", role: "alert" }, `⚠ ${failureText(error)}`));
  }

  // Page `page` (by `cursors`) of `query`, committed to state once read; throws on failure.
  async function show({ page = state.page, cursors = state.cursors, query = state.query } = {}) {
    const conn = await fetchPage(size, cursors[page], query);
    Object.assign(state, { page, cursors, query, conn });
    state.fresh.clear();
    paint();
  }

  // The current page read again; a failure is shown in place (the first load still throws).
  async function load() {
    try {
      await show();
    } catch (error) {
      if (!state.conn) throw error;
      failed(error);
    }
  }

  function reset() {
    state.cursors = [null];
    state.page = 0;
  }

  // A node that arrived live: on the first page it goes on top (once); elsewhere the count grows.
  function prepend(node) {
    if (!state.conn) return;
    if (state.page === 0 && !state.conn.nodes.some((n) => n.id === node.id)) {
      // A capped count stays "10,000+": one more is still more than the cap.
      const totalCount = state.conn.totalCount + (state.conn.totalCountIsCapped ? 0 : 1);
      state.conn = { ...state.conn, nodes: [node, ...state.conn.nodes], totalCount };
      state.fresh.add(node.id);
      paint();
    }
  }

  return { body, load, show, reset, prepend, state };
}
