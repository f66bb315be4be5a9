// The tenant picker: what an operator sees (README "Admin console") until it has chosen the
// tenant to look into. Not a page of its own: the router shows it at whatever address was
// asked for, so choosing a tenant goes on to that page (as signing in does). Every tenant by
// Relay cursor pages (`tenants`, an operator's own field, asked without the tenant header),
// filtered by part of the name (its `search`), and a tenant by exact name or id, asked of the server itself with the header (so it finds
// any tenant, not only those on the page shown).
import { cursorTable } from "./activity-pager.js";
import { ApiError, ConnectionError, SignedOut, gql, tenantRef } from "./api.js";
import { field, formMessage, h, present, showMessage } from "./dom.js";
import { date, number, t } from "./i18n.js";

const PAGE = 20;
const LIST = `query TenantPicker($first: Int!, $after: String, $search: String) {
  tenants(first: $first, after: $after, search: $search) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id name country currency agreementType createdAt }
  }
}`;
const CHECK = `query TenantByName { viewer { tenant { id name } } }`;

function openForm(ctx) {
  const name = field({
    name: "tenant",
    label: t("tenants.open.label"),
    hint: t("tenants.open.hint"),
    attrs: { autocomplete: "off", spellcheck: "false", required: true },
  });
  const general = formMessage();
  const submit = h("button", { type: "submit" }, t("tenants.open.submit"));
  const form = h(
    "form",
    { id: "tenant-open", role: "search", "aria-label": t("tenants.open.region"), novalidate: true },
    name.wrap,
    general,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    name.setError("");
    showMessage(general, "");
    const wanted = name.input.value.trim();
    // A header carries printable ASCII only (api.js tenantRef): other names from the list.
    const problem = !wanted ? "tenants.open.empty" : /^[\x20-\x7e]+$/.test(wanted) ? null : "tenants.open.notAscii";
    if (problem) {
      name.setError(t(problem));
      name.input.focus();
      return;
    }
    submit.disabled = true;
    try {
      const found = (await gql(CHECK, {}, { tenant: wanted })).viewer.tenant;
      ctx.chooseTenant({ ref: tenantRef(found), name: found.name });
    } catch (error) {
      if (error instanceof ApiError && error.code === "NOT_FOUND") {
        name.setError(t("tenants.open.notFound", { name: wanted }));
        name.input.focus();
      } else if (error instanceof ConnectionError) showMessage(general, t("connection.failed"));
      else if (error instanceof SignedOut) ctx.signedOut();
      else showMessage(general, error.message);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// The list's filter: the tenants whose name contains the words typed (the server's `search`).
function searchForm(list, filter) {
  const term = field({
    name: "tenant-search",
    label: t("tenants.search.label"),
    type: "search",
    attrs: { autocomplete: "off", spellcheck: "false" },
  });
  const submit = h("button", { type: "submit" }, t("tenants.search.submit"));
  const form = h(
    "form",
    { id: "tenant-search", role: "search", "aria-label": t("tenants.search.region"), novalidate: true },
    term.wrap,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    filter.search = term.input.value.trim() || null;
    list.reset();
    submit.disabled = true;
    try {
      await list.load();
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function tenantList(ctx, filter) {
  return cursorTable({
    id: "tenant-list",
    size: PAGE,
    fetchPage: async (first, after) =>
      (await gql(LIST, { first, after, search: filter.search }, { tenant: null })).tenants,
    caption: (conn) =>
      filter.search
        ? t("tenants.captionSearch", { shown: number(conn.nodes.length), total: number(conn.totalCount), search: filter.search })
        : t("tenants.caption", { shown: number(conn.nodes.length), total: number(conn.totalCount) }),
    headers: () => [t("tenants.col.name"), t("tenants.col.country"), t("tenants.col.currency"), t("tenants.col.agreement"), t("tenants.col.created")],
    row: (node) => [
      // The name is the control: one per row, named as the tenant (names are unique).
      h(
        "button",
        { type: "button", class: "link", onclick: () => ctx.chooseTenant({ ref: tenantRef(node), name: node.name }) },
        node.name,
      ),
      node.country,
      node.currency,
      node.agreementType,
      date(node.createdAt),
    ],
    empty: () => (filter.search ? t("tenants.noneFound", { search: filter.search }) : t("tenants.none")),
    pagesLabel: () => t("tenants.pages"),
  });
}

export const tenantPicker = {
  title: "tenants.title",
  async render(main, ctx) {
    const filter = { search: null };
    const list = tenantList(ctx, filter);
    const refused = ctx.tenantNotice();
    main.append(
      ...present(
        h("h1", null, t("tenants.title")),
        refused ? h("p", { class: "form-message error", role: "alert" }, `⚠ ${t("tenants.refused", { name: refused })}`) : null,
        h("p", null, t("tenants.intro")),
        openForm(ctx),
        h(
          "section",
          { "aria-labelledby": "tenant-list-heading" },
          h("h2", { id: "tenant-list-heading" }, t("tenants.all")),
          searchForm(list, filter),
          list.body,
        ),
      ),
    );
    await list.load();
  },
};
