// Billing details (the setup guide's "Geben Sie Ihre Abrechnungsdetails ein"): company,
// address, VAT id, contact e-mail, payment method and the payment provider's card token, saved
// with updateBillingProfile. The API refuses a card number typed as a token
// (CARD_NUMBER_NOT_ALLOWED); that, and every other userError, is shown at its field.
import { ConnectionError, gql } from "../api.js";
import {
  billingForm,
  field,
  h,
  selectField,
  showMessage,
  showUserErrors,
} from "../dom.js";
import { t } from "../i18n.js";

const PROFILE = `companyName addressLine1 addressLine2 postalCode city country vatId contactEmail
  paymentMethod cardTokenHint`;

const LOAD = `query BillingPage { viewer { role } tenant { billingProfile { ${PROFILE} } } }`;

const SAVE = `mutation SaveBillingProfile($input: BillingProfileInput!) {
  updateBillingProfile(input: $input) { billingProfile { ${PROFILE} } userErrors { field code message } }
}`;

// The API's field names, in form order, with their input types.
const TEXT_FIELDS = [
  ["companyName", "text", "organization"],
  ["addressLine1", "text", "address-line1"],
  ["addressLine2", "text", "address-line2"],
  ["postalCode", "text", "postal-code"],
  ["city", "text", "address-level2"],
  ["country", "text", "country"],
  ["vatId", "text", "off"],
  ["contactEmail", "email", "email"],
];

export default {
  path: "/credits/billing",
  title: "billing.title",
  nav: "nav.billing",
  async render(main) {
    const { viewer, tenant } = await gql(LOAD);
    const profile = tenant.billingProfile;
    main.append(
      h("p", { class: "breadcrumb" }, t("add.breadcrumb")),
      h("h1", null, t("billing.title")),
    );
    const fields = {};
    for (const [name, type, autocomplete] of TEXT_FIELDS) {
      fields[name] = field({
        name,
        label: t(`billing.${name}`),
        type,
        value: profile[name] || "",
        attrs: { autocomplete },
      });
    }
    fields.paymentMethod = selectField({
      name: "paymentMethod",
      label: t("billing.paymentMethod"),
      value: profile.paymentMethod,
      options: [
        ["INVOICE", t("review.invoice")],
        ["CARD", t("billing.card")],
      ],
    });
    fields.cardToken = field({
      name: "cardToken",
      label: t("billing.cardToken"),
      hint: profile.cardTokenHint
        ? t("billing.cardTokenSaved", { hint: profile.cardTokenHint })
        : t("billing.cardTokenHint"),
      attrs: { autocomplete: "off", spellcheck: "false" },
    });
    const { form, general, submit: save, nodes } = billingForm(viewer.role, fields, t("auto.save"));
    main.append(...nodes);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showMessage(general, "");
      const input = { paymentMethod: fields.paymentMethod.input.value };
      for (const [name] of TEXT_FIELDS) input[name] = fields[name].input.value.trim();
      // An empty token field keeps the saved token (the API never shows it back).
      const token = fields.cardToken.input.value.trim();
      if (token) input.cardToken = token;
      save.disabled = true;
      try {
        const result = (await gql(SAVE, { input })).updateBillingProfile;
        if (result.userErrors.length) {
          showUserErrors(result.userErrors, fields, general);
          return;
        }
        for (const f of Object.values(fields)) f.setError("");
        fields.cardToken.input.value = ""; // a token is not kept on the page once saved
        showMessage(general, t("auto.saved"), "success");
      } catch (error) {
        showMessage(general, error instanceof ConnectionError ? t("connection.failed") : error.message);
      } finally {
        save.disabled = false;
      }
    });
  },
};
