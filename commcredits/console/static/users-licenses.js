// A user's "Licenses and apps": the usage location (updateUser) and one checkbox per SKU the
// tenant has seats of (subscribedSkus: how many are left), with the SKU's service plans
// ("apps") that can be switched off (disabledPlans). Saved with assignLicense, all or nothing;
// Graph's refusals appear in words beside the checkbox of the SKU that caused them
// (aria-describedby, aria-invalid, ⚠), and nothing else changes.
import { ConnectionError, gql } from "./api.js";
import { failureText, field, formMessage, h, showMessage, uid } from "./dom.js";
import { t } from "./i18n.js";
import { canManageUsers, countryName, graphErrorText, seatsText, skusNamed, usersReadOnly } from "./users-common.js";

const LOCATION = `mutation UserLocation($input: UpdateUserInput!) {
  updateUser(input: $input) { user { id usageLocation } userErrors { field code message } }
}`;

const ASSIGN = `mutation UserLicenses($id: ID!, $add: [AssignedLicenseInput!]!, $remove: [ID!]!) {
  assignLicense(userId: $id, addLicenses: $add, removeLicenses: $remove) {
    result { status changes { skuPartNumber action } }
    userErrors { field code message }
  }
}`;

function failed(general, error) {
  showMessage(general, error instanceof ConnectionError ? t("connection.failed") : error.message);
}

// A change the API made: shown by the page read again (onSaved); when only that read fails, the
// change is still said to be made, with why the page still shows the old state.
async function saved(general, onSaved, text) {
  try {
    await onSaved(text);
  } catch (error) {
    showMessage(general, t("user.rereadFailed", { done: text, reason: failureText(error) }));
  }
}

// The usage location: shown, and set with updateUser ("" removes it).
export function locationForm({ user, role, onSaved }) {
  const location = field({
    name: "usageLocation",
    label: t("user.location.label"),
    hint: t("user.location.hint"),
    value: user.usageLocation || "",
    attrs: { autocomplete: "off" },
  });
  const general = formMessage();
  const save = h("button", { type: "submit" }, t("user.location.save"));
  const current = h(
    "p",
    { id: "user-usage-location", class: user.usageLocation ? "current-location" : "current-location missing" },
    user.usageLocation
      ? t("user.location.current", { location: countryName(user.usageLocation) })
      : `⚠ ${t("user.location.none")}`,
  );
  const form = h("form", { class: "location-form", novalidate: true }, location.wrap, h("div", { class: "actions" }, save), general);
  const readOnly = !canManageUsers(role) && usersReadOnly(role, [location.input, save]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    location.setError("");
    showMessage(general, "");
    save.disabled = true;
    try {
      const input = { id: user.id, usageLocation: location.input.value.trim() };
      const payload = (await gql(LOCATION, { input })).updateUser;
      if (payload.userErrors.length) {
        location.setError(payload.userErrors.map(graphErrorText).join(" "));
        location.input.focus();
        return;
      }
      await saved(general, onSaved, t("user.location.saved", { location: countryName(payload.user.usageLocation) }));
    } catch (error) {
      failed(general, error);
    } finally {
      save.disabled = !canManageUsers(role);
    }
  });
  const id = uid("section");
  return {
    element: h("section", { class: "user-location", "aria-labelledby": id }, h("h2", { id }, t("user.location.title")), current, form, readOnly || null),
    field: location,
    general,
  };
}

function sameSet(a, b) {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

// One SKU: its checkbox, seats left, the error slot, and its plans (shown while checked).
function skuItem(sub, sku, held) {
  const id = uid("sku");
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const name = sku ? sku.displayName : sub.skuPartNumber;
  const box = h("input", { type: "checkbox", id, name: "sku", value: sub.skuPartNumber, "aria-describedby": hintId });
  box.checked = Boolean(held);
  const error = h("p", { id: errorId, class: "field-error", hidden: true });
  const off = new Set((held ? held.disabledPlans : []).map((p) => p.toLowerCase()));
  const plans = (sku ? sku.servicePlans : []).map((plan) => {
    const planId = uid("plan");
    const input = h("input", { type: "checkbox", id: planId, value: plan.servicePlanId });
    input.checked = !off.has(plan.servicePlanId.toLowerCase()) && !off.has(plan.servicePlanName.toLowerCase());
    return { plan, input, wrap: h("div", { class: "field-check" }, input, h("label", { for: planId }, plan.servicePlanName)) };
  });
  const apps = plans.length
    ? h("fieldset", { class: "sku-apps" }, h("legend", null, t("user.licenses.apps", { sku: name })), plans.map((p) => p.wrap))
    : null;
  const sync = () => {
    if (apps) apps.hidden = !box.checked;
  };
  box.addEventListener("change", sync);
  sync();
  return {
    part: sub.skuPartNumber,
    box,
    plans,
    held,
    wrap: h(
      "div",
      { class: "sku-item" },
      h("div", { class: "field-check" }, box, h("label", { for: id }, `${name} (${sub.skuPartNumber})`)),
      h("p", { id: hintId, class: "hint" }, seatsText(sub)),
      error,
      apps,
    ),
    setError(message) {
      error.textContent = message ? `⚠ ${message}` : "";
      error.hidden = !message;
      box.setAttribute("aria-invalid", message ? "true" : "false");
      const ids = [hintId, message ? errorId : null, ...(box.dataset.readonly ? [box.dataset.readonly] : [])];
      box.setAttribute("aria-describedby", ids.filter(Boolean).join(" "));
    },
    // What this item asks for: null (no change), { add } or { remove }.
    change() {
      const disabled = new Set(this.plans.filter((p) => !p.input.checked).map((p) => p.plan.servicePlanId.toLowerCase()));
      if (!box.checked) return held ? { remove: this.part } : null;
      const heldOff = new Set((held ? held.disabledPlans : []).map((p) => p.toLowerCase()));
      if (held && sameSet(disabled, heldOff)) return null;
      const ids = this.plans.filter((p) => !p.input.checked).map((p) => p.plan.servicePlanId);
      return { add: { skuId: this.part, disabledPlans: ids } };
    },
  };
}

// The licenses: a checkbox per subscribed SKU (and any held without a subscription).
export function licensesForm({ user, role, subscribed, catalog, onSaved, onLocationError }) {
  const heldBy = new Map(user.assignedLicenses.map((l) => [l.skuPartNumber, l]));
  const subs = [...subscribed];
  for (const part of heldBy.keys()) {
    if (!subs.some((s) => s.skuPartNumber === part)) {
      subs.push({ skuPartNumber: part, consumedUnits: 0, availableUnits: 0, prepaidUnits: { enabled: 0 } });
    }
  }
  const items = subs.map((sub) => skuItem(sub, catalog.get(sub.skuPartNumber), heldBy.get(sub.skuPartNumber)));
  const general = formMessage();
  const save = h("button", { type: "submit", class: "primary" }, t("user.licenses.save"));
  const form = h(
    "form",
    { class: "licenses-form", novalidate: true },
    h("fieldset", { class: "sku-list" }, h("legend", null, t("user.licenses.legend")), items.map((i) => i.wrap)),
    general,
    h("div", { class: "actions" }, save),
  );
  const controls = [save, ...items.flatMap((i) => [i.box, ...i.plans.map((p) => p.input)])];
  const readOnly = !canManageUsers(role) && usersReadOnly(role, controls);
  if (readOnly) for (const i of items) i.box.dataset.readonly = readOnly.id;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const i of items) i.setError("");
    showMessage(general, "");
    onLocationError("");
    const add = [];
    const remove = [];
    for (const i of items) {
      const change = i.change();
      if (change && change.add) add.push(change.add);
      if (change && change.remove) remove.push(change.remove);
    }
    if (!add.length && !remove.length) {
      showMessage(general, t("user.licenses.noChange"), "success");
      return;
    }
    save.disabled = true;
    try {
      const payload = (await gql(ASSIGN, { id: user.id, add, remove })).assignLicense;
      if (payload.userErrors.length) {
        showErrors(payload.userErrors, add, remove);
        return;
      }
      const changes = payload.result ? payload.result.changes : [];
      await saved(general, onSaved, t("user.licenses.saved", { n: String(changes.filter((c) => c.action !== "UNCHANGED").length) }));
    } catch (error) {
      failed(general, error);
    } finally {
      save.disabled = !canManageUsers(role);
    }
  });

  // Each error beside the checkbox of the SKU it is about: the one its field names, else the
  // changed SKUs its message names (else every SKU it names); the rest below the form.
  function showErrors(userErrors, add, remove) {
    const byPart = new Map(items.map((i) => [i.part, i]));
    const changed = [...add.map((a) => a.skuId), ...remove];
    const messages = new Map();
    const rest = [];
    for (const e of userErrors) {
      const text = graphErrorText(e);
      const indexed = /^(addLicenses|removeLicenses)\.(\d+)/.exec(e.field || "");
      let targets = [];
      if (indexed) {
        const entry = indexed[1] === "addLicenses" ? add[Number(indexed[2])] : remove[Number(indexed[2])];
        if (entry) targets = [entry.skuId || entry];
      } else {
        const named = skusNamed(e.message, [...byPart.keys()]);
        const inChange = named.filter((p) => changed.includes(p));
        targets = inChange.length ? inChange : named;
      }
      if (!targets.length && e.code === "ProhibitedInUsageLocationViolation") {
        onLocationError(text);
        targets = add.map((a) => a.skuId);
      }
      if (!targets.length) rest.push(text);
      for (const part of targets) messages.set(part, [...(messages.get(part) || []), text]);
    }
    let first = null;
    for (const [part, texts] of messages) {
      const item = byPart.get(part);
      if (!item) continue;
      item.setError([...new Set(texts)].join(" "));
      first = first || item;
    }
    showMessage(general, rest.join(" "));
    if (first) first.box.focus();
  }

  const id = uid("section");
  return {
    element: h(
      "section",
      { class: "user-licenses", "aria-labelledby": id },
      h("h2", { id }, t("user.licenses.title")),
      user.usageLocation ? null : h("p", { class: "notice" }, `⚠ ${t("user.licenses.needsLocation")}`),
      form,
      readOnly || null,
    ),
    general,
  };
}
