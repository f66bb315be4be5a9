// The Active users filters, as the API's UserFilter, and their place in the URL's query string
// (so a reload or a shared link keeps the search): search, usageLocation ("" = none),
// department, hasLicense, accountEnabled; first (the page size) and after (the page's cursor).
import { field, h, selectField } from "./dom.js";
import { t } from "./i18n.js";
import { skuName } from "./users-common.js";

export const PAGE_SIZES = [20, 50];

// What the URL asks for: { filter, first, after }.
export function readQuery(search) {
  const p = new URLSearchParams(search);
  const filter = {};
  const text = (name) => (p.get(name) || "").trim();
  if (text("search")) filter.search = text("search");
  if (p.has("usageLocation")) filter.usageLocation = text("usageLocation"); // "" = none
  if (text("department")) filter.department = text("department");
  if (text("hasLicense")) filter.hasLicense = text("hasLicense");
  const enabled = p.get("accountEnabled");
  if (enabled === "true" || enabled === "false") filter.accountEnabled = enabled === "true";
  const first = PAGE_SIZES.includes(Number(p.get("first"))) ? Number(p.get("first")) : PAGE_SIZES[0];
  return { filter, first, after: p.get("after") || null };
}

// The URL of a filter, page size and cursor ("/users" when there is nothing to say).
export function usersUrl({ filter, first, after }) {
  const p = new URLSearchParams();
  for (const name of ["search", "usageLocation", "department", "hasLicense"]) {
    if (filter[name] !== undefined) p.set(name, filter[name]);
  }
  if (filter.accountEnabled !== undefined) p.set("accountEnabled", String(filter.accountEnabled));
  if (first !== PAGE_SIZES[0]) p.set("first", String(first));
  if (after) p.set("after", after);
  const query = p.toString();
  return query ? `/users?${query}` : "/users";
}

export function hasFilter(filter) {
  return Object.keys(filter).length > 0;
}

// The filter form; onApply({ filter, first }) when submitted, onReset() for "clear".
export function filterForm({ filter, first }, subscribed, catalog, { onApply, onReset }) {
  const fields = {
    search: field({
      name: "search",
      label: t("users.filter.search"),
      type: "search",
      value: filter.search || "",
      attrs: { autocomplete: "off" },
    }),
    usageLocation: field({
      name: "usageLocation",
      label: t("users.filter.location"),
      hint: t("users.filter.locationHint"),
      value: filter.usageLocation || "",
      attrs: { autocomplete: "off" },
    }),
    noLocation: field({
      name: "noLocation",
      label: t("users.filter.noLocation"),
      type: "checkbox",
      value: filter.usageLocation === "",
    }),
    department: field({
      name: "department",
      label: t("users.filter.department"),
      value: filter.department || "",
      attrs: { autocomplete: "off" },
    }),
    hasLicense: selectField({
      name: "hasLicense",
      label: t("users.filter.license"),
      value: filter.hasLicense || "",
      options: [
        ["", t("users.filter.any")],
        ...subscribed.map((s) => [s.skuPartNumber, `${skuName(s.skuPartNumber, catalog)} (${s.skuPartNumber})`]),
      ],
    }),
    accountEnabled: selectField({
      name: "accountEnabled",
      label: t("users.filter.signIn"),
      value: filter.accountEnabled === undefined ? "" : String(filter.accountEnabled),
      options: [
        ["", t("users.filter.any")],
        ["true", t("users.signInAllowed")],
        ["false", t("users.signInBlocked")],
      ],
    }),
    first: selectField({
      name: "first",
      label: t("users.filter.pageSize"),
      value: String(first),
      options: PAGE_SIZES.map((n) => [String(n), String(n)]),
    }),
  };
  // "Only users without one" and a country exclude each other.
  const syncLocation = () => {
    fields.usageLocation.input.disabled = fields.noLocation.input.checked;
  };
  fields.noLocation.input.addEventListener("change", syncLocation);
  syncLocation();

  const form = h(
    "form",
    { class: "users-filters", role: "search", "aria-label": t("users.filter.label"), novalidate: true },
    h(
      "div",
      { class: "filter-grid" },
      fields.search.wrap,
      h("div", { class: "location-group" }, fields.usageLocation.wrap, fields.noLocation.wrap),
      [fields.department, fields.hasLicense, fields.accountEnabled, fields.first].map((f) => f.wrap),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, t("users.filter.apply")),
      h("button", { type: "button", onclick: onReset }, t("users.filter.reset")),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = {};
    const value = (name) => fields[name].input.value.trim();
    if (value("search")) next.search = value("search");
    if (fields.noLocation.input.checked) next.usageLocation = "";
    else if (value("usageLocation")) next.usageLocation = value("usageLocation");
    if (value("department")) next.department = value("department");
    if (value("hasLicense")) next.hasLicense = value("hasLicense");
    if (value("accountEnabled")) next.accountEnabled = value("accountEnabled") === "true";
    onApply({ filter: next, first: Number(value("first")) });
  });
  return form;
}
