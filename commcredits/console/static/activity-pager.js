// A table read a page at a time by Relay cursors (first/after), for the activity page. Cursors
// only go forward, so the cursors of the pages seen are kept to go back (as the ledger does).
// `prepend(node)` puts a node that arrived live at the top of the first page without a re-read:
// the page then shows one row more, and its end cursor still points where the next page starts.
import { h, table } from "./dom.js";
import { number, pageTotal, t } from "./i18n.js";

export function cursorTable({ id, size, fetchPage, caption, headers, row, empty, pagesLabel }) {
  const body = h("div", { id });
  const state = { cursors: [null], page: 0, conn: null, fresh: new Set() };

  function paint() {
    const conn = state.conn;
    const prev = h("button", { type: "button", disabled: state.page === 0 }, t("activity.previous"));
    const next = h("button", { type: "button", disabled: !conn.pageInfo.hasNextPage }, t("activity.next"));
    const turn = (delta, index) => {
      if (delta > 0) state.cursors[state.page + 1] = conn.pageInfo.endCursor;
      state.page += delta;
      load().then(() => body.querySelectorAll(".pager button")[index].focus());
    };
    prev.addEventListener("click", () => turn(-1, 0));
    next.addEventListener("click", () => turn(1, 1));
    const rows = conn.nodes.map((node) => row(node, state.fresh.has(node.id)));
    body.replaceChildren(
      table(caption(conn), headers(), rows, empty()),
      h(
        "nav",
        { class: "pager", "aria-label": pagesLabel() },
        prev,
        h("span", null, t("activity.page", { page: number(state.page + 1), pages: pageTotal(conn, size) })),
        next,
      ),
    );
  }

  async function load() {
    try {
      state.conn = await fetchPage(size, state.cursors[state.page]);
    } catch (error) {
      // Shown where the table was, never swallowed; the page's own first load still throws.
      if (!state.conn) throw error;
      body.prepend(h("p", { class: "form-message error", role: "alert" }, `⚠ ${error.message}`));
      return;
    }
    state.fresh.clear();
    paint();
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

  return { body, load, reset, prepend, state };
}
