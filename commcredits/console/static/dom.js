// Small DOM helpers shared by every page: elements without innerHTML (so no text from the API
// is ever parsed as markup), labelled fields with an error slot, and userErrors at their field.
import { ConnectionError } from "./api.js";
import { errorText, t } from "./i18n.js";

// h("p", { class: "x", onclick: fn }, "text", child): attributes, listeners and children.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// The children worth adding: DOM append() would add null or false as the text "null".
export function present(...children) {
  return children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false);
}

let counter = 0;
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

// A labelled input with an optional hint and a place for its error. The error is tied to the
// input by aria-describedby (and aria-invalid), so a screen reader reads it with the field; it
// starts with a warning sign, so it is not told by colour alone.
export function field({ name, label, type = "text", value = "", hint, attrs = {} }) {
  const id = uid(name);
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const input = h("input", { id, name, type, ...attrs });
  if (type === "checkbox") input.checked = Boolean(value);
  else input.value = value;
  const error = h("p", { id: errorId, class: "field-error", hidden: true });
  const labelEl = h("label", { for: id }, label);
  const hintEl = hint ? h("p", { id: hintId, class: "hint" }, hint) : null;
  const wrap =
    type === "checkbox"
      ? h("div", { class: "field field-check" }, input, labelEl, hintEl, error)
      : h("div", { class: "field" }, labelEl, hintEl, input, error);
  const describe = () => {
    const ids = [hintId, error.hidden ? null : errorId].filter(Boolean).join(" ");
    if (ids) input.setAttribute("aria-describedby", ids);
    else input.removeAttribute("aria-describedby");
  };
  describe();
  return {
    wrap,
    input,
    error,
    setError(message) {
      error.textContent = message ? `⚠ ${message}` : "";
      error.hidden = !message;
      input.setAttribute("aria-invalid", message ? "true" : "false");
      describe();
    },
  };
}

// A labelled <select> with the same shape as field() (its `input` is the select).
export function selectField({ name, label, value, options }) {
  const id = uid(name);
  const errorId = `${id}-error`;
  const input = h(
    "select",
    { id, name },
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)),
  );
  const error = h("p", { id: errorId, class: "field-error", hidden: true });
  return {
    wrap: h("div", { class: "field" }, h("label", { for: id }, label), input, error),
    input,
    error,
    setError(message) {
      error.textContent = message ? `⚠ ${message}` : "";
      error.hidden = !message;
      input.setAttribute("aria-invalid", message ? "true" : "false");
      if (message) input.setAttribute("aria-describedby", errorId);
      else input.removeAttribute("aria-describedby");
    },
  };
}

// A form-level message area (errors that name no field, or none of ours).
export function formMessage() {
  return h("div", { class: "form-message", role: "alert", hidden: true });
}

export function showMessage(el, text, kind = "error") {
  el.textContent = text ? (kind === "error" ? `⚠ ${text}` : `✓ ${text}`) : "";
  el.className = `form-message ${kind}`;
  el.hidden = !text;
}

// A failed request in the visitor's language when it got no answer ("Failed to fetch" is the
// browser's English), else the API's own words.
export function failureText(error) {
  return error instanceof ConnectionError ? t("connection.failed") : error.message;
}

// After a page turn, focus stays on the pager: on the same button (0 previous, 1 next), or on
// the other when this one is now off (the last page's Next), never on a disabled button.
export function refocusPager(container, index) {
  const buttons = [...container.querySelectorAll(".pager button")];
  const target = buttons[index] && !buttons[index].disabled ? buttons[index] : buttons[1 - index];
  if (target) target.focus();
}

// Puts each userError at the field it names (the API's argument name); the rest, and errors
// naming a field this form lacks, go to `general`. Focus moves to the first field in error.
// `currency`: the tenant's, for messages about its amounts (how many decimals they have).
export function showUserErrors(userErrors, fields, general, { currency } = {}) {
  for (const f of Object.values(fields)) f.setError("");
  const rest = [];
  let first = null;
  for (const e of userErrors) {
    const target = e.field && fields[e.field];
    if (target) {
      target.setError(errorText(e, { currency }));
      first = first || target;
    } else rest.push(errorText(e, { currency }));
  }
  showMessage(general, rest.join(" "));
  if (first) first.input.focus();
  else if (rest.length) general.focus?.();
}

// Roles that may change billing (purchaseCredits, configureAutoRecharge need BILLING_ADMIN).
// Not the operator: in the console it always looks into a tenant, where it reads but does not
// change the tenant's money (services/principal.py OPERATOR_IN_TENANT).
const BILLING_ROLES = new Set(["GLOBAL_ADMIN", "BILLING_ADMIN"]);
export function canManageBilling(role) {
  return BILLING_ROLES.has(role);
}

// Why billing is read-only for `role`, in words.
export function readOnlyText(role) {
  return role === "OPERATOR" ? t("readonly.operator") : t("readonly.reason", { role });
}

// Why the controls are off, shown beside them and named by aria-describedby on each.
export function readOnlyReason(role, controls) {
  const note = h("p", { id: uid("readonly"), class: "readonly-note" }, readOnlyText(role));
  for (const control of controls) {
    control.disabled = true;
    const before = control.getAttribute("aria-describedby");
    control.setAttribute("aria-describedby", before ? `${before} ${note.id}` : note.id);
  }
  return note;
}

// A billing form: its fields, a message area and a submit button. For a role that may not
// change billing every control is off and the reason follows the form; `nodes` is what to show.
export function billingForm(role, fields, submitLabel) {
  const general = formMessage();
  const submit = h("button", { type: "submit", class: "primary" }, submitLabel);
  const form = h(
    "form",
    { novalidate: true },
    Object.values(fields).map((f) => f.wrap),
    general,
    h("div", { class: "actions" }, submit),
  );
  const controls = [...Object.values(fields).map((f) => f.input), submit];
  const readOnly = !canManageBilling(role) && readOnlyReason(role, controls);
  return { form, general, submit, nodes: present(form, readOnly) };
}

// A table with a caption and column headers (scope=col); rows are arrays of cells.
export function table(caption, headers, rows, emptyText) {
  if (!rows.length) return h("p", { class: "empty" }, emptyText);
  return h(
    "table",
    null,
    h("caption", null, caption),
    h("thead", null, h("tr", null, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", null, rows.map((cells) => h("tr", null, cells.map((c) => h("td", null, c))))),
  );
}

export function section(titleKey, ...children) {
  const id = uid("section");
  return h("section", { "aria-labelledby": id }, h("h2", { id }, t(titleKey)), ...children);
}
