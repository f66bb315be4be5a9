// Batch license changes on Active users: the selected users, one SKU (from subscribedSkus),
// assign or remove; first a what-if preview (setUserLicenses with whatIf: true) with each
// user's outcome in words, then Confirm makes the real call and the page re-reads.
import { ConnectionError, gql } from "./api.js";
import { failureText, formMessage, h, selectField, showMessage, uid } from "./dom.js";
import { errorText, number, t } from "./i18n.js";
import { canManageUsers, outcomeText, seatsText, skuName, usersReadOnly } from "./users-common.js";

const BATCH = `mutation UsersBatch($upns: [String!]!, $add: [AssignedLicenseInput!],
    $remove: [ID!], $whatIf: Boolean!) {
  setUserLicenses(userPrincipalNames: $upns, addLicenses: $add, removeLicenses: $remove,
      whatIf: $whatIf) {
    whatIf
    userErrors { field code message }
    summary { total applied unchanged failed }
    results { index userId status userErrors { field code message } user { displayName } }
  }
}`;

function outcomeTable(id, caption, results, people) {
  return h(
    "table",
    { id, class: "batch-outcome" },
    h("caption", null, caption),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, t("users.col.user")), h("th", { scope: "col" }, t("users.col.outcome")))),
    h(
      "tbody",
      null,
      results.map((r, i) =>
        h(
          "tr",
          { class: `outcome-${r.status.toLowerCase()}` },
          h("td", null, (r.user && r.user.displayName) || (people[i] && people[i].name) || r.userId),
          h("td", null, r._text),
        ),
      ),
    ),
  );
}

// role, subscribed (subscribedSkus), catalog (skus by part number), selected() → the chosen
// users [{ upn, name }], onDone() → the page re-reads (list and seats).
export function batchPanel({ role, subscribed, catalog, selected, onDone }) {
  const count = h("p", { id: "users-selected", "aria-live": "polite" });
  const sku = selectField({ name: "batchSku", label: t("users.batch.sku"), value: "", options: [] });
  const actionName = uid("batch-action");
  const radio = (value, checked) => {
    const id = uid("batch-action");
    const input = h("input", { type: "radio", id, name: actionName, value, checked });
    return { input, wrap: h("div", { class: "field-check" }, input, h("label", { for: id }, t(`users.batch.${value}`))) };
  };
  const assign = radio("assign", true);
  const remove = radio("remove", false);
  const action = h(
    "fieldset",
    { class: "batch-action" },
    h("legend", null, t("users.batch.action")),
    assign.wrap,
    remove.wrap,
  );
  const preview = h("button", { type: "button", class: "primary" }, t("users.batch.preview"));
  const general = formMessage();
  general.setAttribute("tabindex", "-1");
  const out = h("div", { class: "batch-out" });
  const controls = [sku.input, assign.input, remove.input, preview];
  const readOnly = !canManageUsers(role) && usersReadOnly(role, controls);

  function setSkus(list) {
    const keep = sku.input.value;
    sku.input.replaceChildren(
      h("option", { value: "" }, t("users.batch.chooseSku")),
      ...list.map((s) =>
        h(
          "option",
          { value: s.skuPartNumber, selected: s.skuPartNumber === keep },
          `${skuName(s.skuPartNumber, catalog)} (${s.skuPartNumber}) – ${seatsText(s)}`,
        ),
      ),
    );
  }
  setSkus(subscribed);

  // A preview is for the users it was made for: a new selection drops it (a re-read after
  // Confirm keeps the results shown).
  function selectionChanged({ keepOutcome = false } = {}) {
    const n = selected().length;
    count.textContent = n ? t("users.batch.selected", { n: number(n) }) : t("users.batch.noneSelected");
    if (!keepOutcome) out.replaceChildren();
  }
  selectionChanged();

  async function run(request, whatIf) {
    const kind = request.action;
    const variables = {
      upns: request.people.map((p) => p.upn),
      add: kind === "assign" ? [{ skuId: request.sku }] : null,
      remove: kind === "remove" ? [request.sku] : null,
      whatIf,
    };
    const payload = (await gql(BATCH, variables)).setUserLicenses;
    if (payload.userErrors.length) {
      showMessage(general, payload.userErrors.map(errorText).join(" "));
      return null;
    }
    for (const r of payload.results) r._text = outcomeText(r, kind);
    return payload;
  }

  function summaryText(summary, whatIf, kind) {
    return t(whatIf ? "users.batch.previewSummary" : "users.batch.doneSummary", {
      ok: number(summary.applied),
      unchanged: number(summary.unchanged),
      failed: number(summary.failed),
      action: t(`users.batch.${kind}`),
    });
  }

  async function showPreview() {
    showMessage(general, "");
    out.replaceChildren();
    const people = selected();
    if (!people.length) return showMessage(general, t("users.batch.selectFirst"));
    if (!sku.input.value) {
      sku.setError(t("users.batch.skuFirst"));
      sku.input.focus();
      return;
    }
    sku.setError("");
    const request = { people, sku: sku.input.value, action: remove.input.checked ? "remove" : "assign" };
    preview.disabled = true;
    try {
      const payload = await run(request, true);
      if (!payload) return;
      const heading = h("h3", { id: "batch-preview-heading", tabindex: "-1" }, t("users.batch.previewTitle"));
      const confirm = h("button", { type: "button", class: "primary" }, t("users.batch.confirm"));
      const cancel = h("button", { type: "button" }, t("users.batch.cancel"));
      const nothing = payload.summary.applied === 0;
      confirm.disabled = nothing;
      cancel.addEventListener("click", () => {
        out.replaceChildren();
        preview.focus();
      });
      confirm.addEventListener("click", () => apply(request, confirm, cancel));
      out.replaceChildren(
        h(
          "div",
          { id: "batch-preview", class: "batch-preview", role: "region", "aria-labelledby": heading.id },
          heading,
          h("p", { class: "notice" }, t("users.batch.previewNote", {
            sku: `${skuName(request.sku, catalog)} (${request.sku})`,
            action: t(`users.batch.${request.action}`),
          })),
          outcomeTable("batch-preview-table", summaryText(payload.summary, true, request.action), payload.results, people),
          nothing ? h("p", { class: "hint" }, t("users.batch.nothingToDo")) : null,
          h("div", { class: "actions" }, confirm, cancel),
        ),
      );
      heading.focus();
    } catch (error) {
      showMessage(general, error instanceof ConnectionError ? t("connection.failed") : error.message);
    } finally {
      preview.disabled = !canManageUsers(role);
    }
  }

  async function apply(request, confirm, cancel) {
    confirm.disabled = true;
    cancel.disabled = true;
    try {
      const payload = await run(request, false);
      if (!payload) return;
      const heading = h("h3", { id: "batch-result-heading", tabindex: "-1" }, t("users.batch.resultTitle"));
      out.replaceChildren(
        h(
          "div",
          { id: "batch-result", class: "batch-preview", role: "region", "aria-labelledby": heading.id },
          heading,
          outcomeTable("batch-result-table", summaryText(payload.summary, false, request.action), payload.results, request.people),
        ),
      );
      const failed = payload.summary.failed;
      showMessage(
        general,
        summaryText(payload.summary, false, request.action),
        failed ? "error" : "success",
      );
      try {
        await onDone();
      } catch (error) {
        // Confirmed and done: only the list could not be read again. Not a failure to confirm
        // (which would invite confirming again).
        out.firstChild.append(h("p", { class: "form-message error", role: "alert" }, `⚠ ${t("users.batch.rereadFailed", { reason: failureText(error) })}`));
      }
      heading.focus();
    } catch (error) {
      confirm.disabled = false;
      cancel.disabled = false;
      showMessage(general, error instanceof ConnectionError ? t("users.batch.retry") : error.message);
    }
  }

  preview.addEventListener("click", showPreview);
  const id = uid("section");
  const element = h(
    "section",
    { class: "users-batch", "aria-labelledby": id },
    h("h2", { id }, t("users.batch.title")),
    count,
    h("div", { class: "batch-controls" }, sku.wrap, action),
    h("div", { class: "actions" }, preview),
    readOnly || null,
    general,
    out,
  );
  // readOnlyId: the note saying why nothing can be changed (the page ties its checkboxes to it).
  return { element, selectionChanged, setSkus, readOnlyId: readOnly ? readOnly.id : null };
}
