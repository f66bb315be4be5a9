// Helpers of the users area (pages/users.js, pages/user.js and the users-*.js modules): who may
// change users and licenses, the read-only note, country names, SKU labels, Graph's license
// errors in the console's words, and URL changes that add a history entry.
import { h, uid } from "./dom.js";
import { errorText, has, locale, number, t } from "./i18n.js";

// Roles with MANAGE_USERS (commcredits/services/principal.py ROLE_PERMISSIONS). Not the
// operator, which in a tenant reads users and licenses but does not change them.
const USER_ROLES = new Set(["GLOBAL_ADMIN", "LICENSE_ADMIN"]);
export function canManageUsers(role) {
  return USER_ROLES.has(role);
}

// Why the controls are off, shown beside them and named by aria-describedby on each (as
// dom.js readOnlyReason, in the words of user and license management).
export function usersReadOnly(role, controls) {
  const note = h("p", { id: uid("readonly"), class: "readonly-note" }, role === "OPERATOR" ? t("users.readonlyOperator") : t("users.readonly", { role }));
  for (const control of controls) {
    control.disabled = true;
    const before = control.getAttribute("aria-describedby");
    control.setAttribute("aria-describedby", before ? `${before} ${note.id}` : note.id);
  }
  return note;
}

// "Deutschland (DE)" for "DE"; "—" with words for none.
export function countryName(code) {
  if (!code) return t("users.noLocation");
  try {
    const name = new Intl.DisplayNames([locale()], { type: "region" }).of(code);
    return name && name !== code ? `${name} (${code})` : code;
  } catch {
    return code;
  }
}

// A SKU as people know it: its display name from the catalog, else its part number.
export function skuName(partNumber, catalog) {
  const sku = catalog && catalog.get(partNumber);
  return sku && sku.displayName ? sku.displayName : partNumber;
}

export function catalogOf(skus) {
  return new Map(skus.map((s) => [s.skuPartNumber, s]));
}

// "7 of 10 licenses available".
export function seatsText(sub) {
  return t("users.seatsAvailable", {
    available: number(sub.availableUnits),
    total: number(sub.prepaidUnits ? sub.prepaidUnits.enabled : sub.consumedUnits + sub.availableUnits),
  });
}

// Graph's refusals of a license change, in the console's words: the parameters come from the
// API's own (English) message; when it has another shape the API's message is shown as it is.
const GRAPH = [
  ["CountViolation", /SKU (\S+) does not have/, ["sku"]],
  ["DependencyViolation", /contains (\S+), you must also assign one of the following service plans: (.+?)\.?$/, ["sku", "plans"]],
  ["ProhibitedInUsageLocationViolation", /^License assignment cannot be done for user with invalid usage location/, [], "noLocation"],
  ["ProhibitedInUsageLocationViolation", /^License (\S+) cannot be assigned to a user with usage location '([^']*)'/, ["sku", "location"], "notSold"],
  ["ProhibitedInUsageLocationViolation", /^Usage location cannot be removed/, [], "keepLocation"],
  ["ProhibitedInUsageLocationViolation", /^License (\S+) held by this user cannot be used in usage location '([^']*)'/, ["sku", "location"], "heldElsewhere"],
  ["MutuallyExclusiveViolation", /^Licenses (.+?) cannot be assigned together/, ["skus"]],
  ["InvalidServicePlan", /^Service plan '(.*)' is not part of SKU (\S+?)\.?$/, ["plan", "sku"]],
  ["InvalidLicenseOperation", /^License (.+?) cannot be in both/, ["skus"]],
  ["InvalidSku", /./, []],
  ["NOT_FOUND", /./, []],
  ["INVALID_USAGE_LOCATION", /./, []],
];

export function graphErrorText(userError) {
  for (const [code, pattern, names, variant] of GRAPH) {
    if (userError.code !== code) continue;
    const match = pattern.exec(userError.message || "");
    if (!match) continue;
    const key = `users.graph.${code}${variant ? `.${variant}` : ""}`;
    if (!has(key)) break;
    const params = {};
    names.forEach((name, i) => {
      params[name] = match[i + 1];
    });
    if (params.skus) params.skus = params.skus.replace(/ and /g, ` ${t("users.and")} `);
    return t(key, params);
  }
  return errorText(userError);
}

// The SKUs (of `parts`) a message names, by whole part number.
export function skusNamed(message, parts) {
  const words = new Set((message || "").split(/[^A-Za-z0-9_]+/));
  return parts.filter((part) => words.has(part));
}

// A new history entry for `url` (with `state`), then the router renders it. (navigate() pushes
// only when the path differs, and "/users?x" → "/users" has the same path.)
export function go(ctx, url, state = null) {
  history.pushState(state, "", url);
  ctx.navigate(url, { replace: true, state });
}

// An outcome of a batch item in words and a symbol (never colour alone).
export function outcomeText(result, action) {
  if (result.status === "FAILED") {
    // Graph's code too, as admins search for it.
    return `⚠ ${result.userErrors.map((e) => `${graphErrorText(e)} (${e.code})`).join(" ")}`;
  }
  if (result.status === "UNCHANGED") return `= ${t(`users.outcome.unchanged.${action}`)}`;
  if (result.status === "WOULD_APPLY") return `✓ ${t(`users.outcome.would.${action}`)}`;
  return `✓ ${t(`users.outcome.done.${action}`)}`;
}
