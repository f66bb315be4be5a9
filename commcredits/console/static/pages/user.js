// One user (/users/user?id=<global id>): the Account tab (profile and sign-in status) and the
// Licenses and apps tab (usage location, licenses and their apps; users-licenses.js). The tab
// is in the query string too (&tab=licenses), so a reload keeps it.
import { gql } from "../api.js";
import { h, showMessage } from "../dom.js";
import { dateTime, t } from "../i18n.js";
import { catalogOf, countryName } from "../users-common.js";
import { licensesForm, locationForm } from "../users-licenses.js";

const LOAD = `query UserPage($id: ID!) {
  viewer { role }
  user(id: $id) {
    id userPrincipalName displayName givenName surname jobTitle department officeLocation
    city country usageLocation accountEnabled createdAt
    assignedLicenses { skuId skuPartNumber disabledPlans }
  }
  subscribedSkus { skuId skuPartNumber consumedUnits availableUnits prepaidUnits { enabled } }
  skus { skuId skuPartNumber displayName servicePlans { servicePlanId servicePlanName } }
}`;

const TABS = ["account", "licenses"];

function facts(user) {
  const rows = [
    ["user.displayName", user.displayName || "—"],
    ["user.upn", user.userPrincipalName],
    ["user.givenName", user.givenName || "—"],
    ["user.surname", user.surname || "—"],
    ["user.jobTitle", user.jobTitle || "—"],
    ["user.department", user.department || "—"],
    ["user.office", user.officeLocation || "—"],
    ["user.city", user.city || "—"],
    ["user.usageLocation", countryName(user.usageLocation)],
    ["user.signIn", user.accountEnabled ? `✓ ${t("users.signInAllowed")}` : `⛔ ${t("users.signInBlocked")}`],
    ["user.created", dateTime(user.createdAt)],
  ];
  return h("dl", { class: "facts" }, rows.map(([key, value]) => [h("dt", null, t(key)), h("dd", null, value)]));
}

// Two tabs with the keyboard pattern of a tablist: arrows move and select, Home/End too.
function tabs(current, panels, onSelect) {
  const buttons = TABS.map((name) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${name}`,
        "aria-controls": `panel-${name}`,
        "aria-selected": name === current ? "true" : "false",
        tabindex: name === current ? "0" : "-1",
      },
      t(`user.tab.${name}`),
    ),
  );
  function select(index, focus) {
    buttons.forEach((b, i) => {
      b.setAttribute("aria-selected", i === index ? "true" : "false");
      b.setAttribute("tabindex", i === index ? "0" : "-1");
      panels[i].hidden = i !== index;
    });
    if (focus) buttons[index].focus();
    onSelect(TABS[index]);
  }
  buttons.forEach((b, i) => {
    b.addEventListener("click", () => select(i, false));
    b.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: buttons.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      select((moves[event.key] + buttons.length) % buttons.length, true);
    });
  });
  panels.forEach((p, i) => {
    p.hidden = TABS[i] !== current;
  });
  return h("div", { class: "tabs", role: "tablist", "aria-label": t("user.tabs") }, buttons);
}

export default {
  path: "/users/user",
  title: "user.title",
  async render(main) {
    const params = new URLSearchParams(location.search);
    const id = params.get("id") || "";
    const tab = TABS.includes(params.get("tab")) ? params.get("tab") : "account";
    const heading = h("h1", null, t("user.title"));
    main.append(heading, h("p", { class: "breadcrumb" }, h("a", { href: "/users", "data-link": true }, t("user.back"))));
    if (!id) {
      main.append(h("p", { class: "form-message error", role: "alert" }, `⚠ ${t("user.notFound")}`));
      return undefined;
    }
    const data = await gql(LOAD, { id });
    if (!data.user) {
      main.append(h("p", { class: "form-message error", role: "alert" }, `⚠ ${t("user.notFound")}`));
      return undefined;
    }
    heading.textContent = data.user.displayName || data.user.userPrincipalName;
    document.title = `${heading.textContent} — commcredits`;
    const role = data.viewer.role;
    const account = h("div", { role: "tabpanel", id: "panel-account", "aria-labelledby": "tab-account", tabindex: "0" });
    const licenses = h("div", { role: "tabpanel", id: "panel-licenses", "aria-labelledby": "tab-licenses", tabindex: "0" });
    const upn = h("p", { class: "upn" }, data.user.userPrincipalName);

    // The tabs' contents from fresh data; `notice` is what the last save did (shown `where`).
    function fill(fresh, notice, where) {
      account.replaceChildren(facts(fresh.user));
      const place = locationForm({ user: fresh.user, role, onSaved: (text) => reload(text, "location") });
      const lic = licensesForm({
        user: fresh.user,
        role,
        subscribed: fresh.subscribedSkus,
        catalog: catalogOf(fresh.skus),
        onSaved: (text) => reload(text, "licenses"),
        onLocationError: (text) => place.field.setError(text),
      });
      licenses.replaceChildren(place.element, lic.element);
      if (notice) {
        const message = where === "location" ? place.general : lic.general;
        showMessage(message, notice, "success");
        message.setAttribute("tabindex", "-1");
        message.focus();
      }
    }
    async function reload(notice, where) {
      fill(await gql(LOAD, { id }), notice, where);
    }

    const tablist = tabs(tab, [account, licenses], (name) => {
      const next = new URLSearchParams(location.search);
      if (name === "account") next.delete("tab");
      else next.set("tab", name);
      history.replaceState(history.state, "", `${location.pathname}?${next}`);
    });
    main.append(upn, tablist, account, licenses);
    fill(data);
    return undefined;
  },
};
