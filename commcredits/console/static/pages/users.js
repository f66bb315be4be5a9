// Active users: search and filters (the API's UserFilter), Relay cursor pages of 20 or 50 with
// totalCount, usage location and licenses per user; selecting users and assigning or removing
// one license for all of them with a what-if preview first (users-batch.js). Filters, page
// size and the page's cursor live in the query string: a reload or a shared link keeps them,
// and every change is a history entry, so the back button goes back.
import { ApiError, gql } from "../api.js";
import { h, present, uid } from "../dom.js";
import { number, t, total as totalText } from "../i18n.js";
import { batchPanel } from "../users-batch.js";
import { canManageUsers, catalogOf, countryName, go, skuName } from "../users-common.js";
import { filterForm, readQuery, usersUrl } from "../users-filters.js";

const PAGE = `query UsersPage($first: Int!, $after: String, $filter: UserFilter) {
  viewer { role }
  skus { skuPartNumber displayName }
  subscribedSkus { skuId skuPartNumber consumedUnits availableUnits prepaidUnits { enabled } }
  users(first: $first, after: $after, filter: $filter) {
    totalCount
    totalCountIsCapped
    pageInfo { hasNextPage endCursor }
    nodes {
      id userPrincipalName displayName department usageLocation accountEnabled
      assignedLicenses { skuPartNumber }
    }
  }
}`;

function userLink(user) {
  return h(
    "a",
    { href: `/users/user?id=${encodeURIComponent(user.id)}`, "data-link": true },
    user.displayName || user.userPrincipalName,
  );
}

function licensesCell(user, catalog) {
  if (!user.assignedLicenses.length) return h("span", { class: "unlicensed" }, t("users.unlicensed"));
  return user.assignedLicenses.map((l) => skuName(l.skuPartNumber, catalog)).join(", ");
}

function signInCell(user) {
  return user.accountEnabled ? `✓ ${t("users.signInAllowed")}` : `⛔ ${t("users.signInBlocked")}`;
}

// The page number and the cursors of the pages before, kept in the history entry (Relay
// cursors only go forward); unknown for a shared link to a later page.
function pagePosition(after) {
  const state = history.state;
  if (state && state.usersPage && (state.after || null) === after) {
    return { page: state.usersPage, prev: state.prev || [] };
  }
  return after ? { page: null, prev: [] } : { page: 1, prev: [] };
}

export default {
  path: "/users",
  title: "users.title",
  nav: "nav.users",
  async render(main, ctx) {
    const query = readQuery(location.search);
    const position = pagePosition(query.after);
    main.append(h("h1", null, t("users.title")));
    const variables = {
      first: query.first,
      after: query.after,
      filter: Object.keys(query.filter).length ? query.filter : null,
    };
    let data;
    try {
      data = await gql(PAGE, variables);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      // A cursor or filter the API refuses (an old link): say so, and offer a clean start.
      main.append(
        h("p", { class: "form-message error", role: "alert" }, `⚠ ${error.message}`),
        h("p", null, h("a", { href: "/users", "data-link": true }, t("users.filter.reset"))),
      );
      return undefined;
    }
    const role = data.viewer.role;
    const catalog = catalogOf(data.skus);
    const selection = new Map(); // userPrincipalName → name shown
    const batch = batchPanel({
      role,
      subscribed: data.subscribedSkus,
      catalog,
      selected: () => [...selection].map(([upn, name]) => ({ upn, name })),
      onDone: reRead,
    });
    const list = h("div", { id: "users-list" });

    const form = filterForm(query, data.subscribedSkus, catalog, {
      onApply: ({ filter, first }) => go(ctx, usersUrl({ filter, first, after: null }), { usersPage: 1, prev: [], after: null }),
      onReset: () => go(ctx, "/users", { usersPage: 1, prev: [], after: null }),
    });
    const filtersId = uid("section");
    main.append(
      h(
        "section",
        { class: "users-filter-section", "aria-labelledby": filtersId },
        h("h2", { id: filtersId }, t("users.filter.title")),
        form,
      ),
      batch.element,
      list,
    );

    function renderList(users) {
      selection.clear();
      const manage = canManageUsers(role);
      const all = h("input", {
        type: "checkbox",
        id: "users-select-all",
        "aria-label": t("users.selectAll"),
        disabled: !manage || !users.nodes.length,
        "aria-describedby": batch.readOnlyId,
      });
      const boxes = [];
      const syncAll = () => {
        const n = boxes.filter((b) => b.checked).length;
        all.checked = n > 0 && n === boxes.length;
        all.indeterminate = n > 0 && n < boxes.length;
      };
      const rows = users.nodes.map((user) => {
        const name = user.displayName || user.userPrincipalName;
        const box = h("input", {
          type: "checkbox",
          "aria-label": name,
          disabled: !manage,
          "aria-describedby": batch.readOnlyId,
          "data-upn": user.userPrincipalName,
        });
        box.addEventListener("change", () => {
          if (box.checked) selection.set(user.userPrincipalName, name);
          else selection.delete(user.userPrincipalName);
          syncAll();
          batch.selectionChanged();
        });
        boxes.push(box);
        return h(
          "tr",
          null,
          h("td", { class: "select" }, box),
          h("th", { scope: "row" }, userLink(user)),
          h("td", null, user.userPrincipalName),
          h("td", null, licensesCell(user, catalog)),
          h("td", null, countryName(user.usageLocation)),
          h("td", null, user.department || "—"),
          h("td", null, signInCell(user)),
        );
      });
      all.addEventListener("change", () => {
        for (const box of boxes) {
          box.checked = all.checked;
          const upn = box.getAttribute("data-upn");
          if (all.checked) selection.set(upn, box.getAttribute("aria-label"));
          else selection.delete(upn);
        }
        syncAll();
        batch.selectionChanged();
      });

      const total = users.totalCount;
      const shownTotal = totalText(users); // "10,000+" when the count stopped at the cap
      const from = position.page ? (position.page - 1) * query.first + 1 : null;
      const caption =
        from && users.nodes.length
          ? t("users.caption", { from: number(from), to: number(from + users.nodes.length - 1), total: shownTotal })
          : t("users.captionPage", { n: number(users.nodes.length), total: shownTotal });
      const table = h(
        "table",
        { id: "users-table", class: "users-table" },
        h("caption", null, caption),
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            h("td", { class: "select" }, all),
            ...["users.col.name", "users.col.upn", "users.col.licenses", "users.col.location", "users.col.department", "users.col.signIn"].map(
              (key) => h("th", { scope: "col" }, t(key)),
            ),
          ),
        ),
        h("tbody", null, rows),
      );
      list.replaceChildren(
        ...present(
        h(
          "p",
          { class: "users-count" },
          `${t("users.total")} `,
          h("strong", { id: "users-total", "data-count": String(total) }, shownTotal),
        ),
        h("div", { class: "table-scroll" }, table),
        users.nodes.length ? null : h("p", { class: "empty" }, t("users.none")),
        pager(users.pageInfo),
        ),
      );
    }

    function pager(pageInfo) {
      const buttons = [];
      const move = (after, page, prev) => go(ctx, usersUrl({ ...query, after }), { usersPage: page, prev, after });
      if (query.after) {
        const first = h("button", { type: "button" }, t("users.firstPage"));
        first.addEventListener("click", () => move(null, 1, []));
        buttons.push(first);
      }
      if (position.page && position.page > 1) {
        const prev = h("button", { type: "button" }, t("users.previousPage"));
        const before = position.prev[position.prev.length - 1] || null;
        prev.addEventListener("click", () => move(before, position.page - 1, position.prev.slice(0, -1)));
        buttons.push(prev);
      }
      if (position.page) buttons.push(h("span", { class: "page-number" }, t("users.page", { page: number(position.page) })));
      const next = h("button", { type: "button", disabled: !pageInfo.hasNextPage }, t("users.nextPage"));
      next.addEventListener("click", () =>
        move(pageInfo.endCursor, position.page ? position.page + 1 : null, [...position.prev, query.after]),
      );
      buttons.push(next);
      return h("nav", { class: "pager", "aria-label": t("users.pages") }, buttons);
    }

    // After a batch change: the same page and filter read again, seats too.
    async function reRead() {
      const fresh = await gql(PAGE, variables);
      renderList(fresh.users);
      batch.setSkus(fresh.subscribedSkus);
      batch.selectionChanged({ keepOutcome: true });
    }

    renderList(data.users);
    return undefined;
  },
};
