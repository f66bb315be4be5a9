// Auto-recharge, the seed's form: enabled, "add this amount" (rechargeAmount), "when the
// balance falls below" (triggerBalance), at most so many recharges a day; saved with
// configureAutoRecharge, its userErrors shown at their fields.
import { ConnectionError, gql } from "../api.js";
import {
  billingForm,
  field,
  h,
  showMessage,
  showUserErrors,
} from "../dom.js";
import { amountInput, moneyOf, parseAmount, t } from "../i18n.js";

const SETTINGS = "enabled topUp { amount currency } threshold { amount currency } maxRechargesPerDay";

const LOAD = `query AutoRechargePage {
  viewer { role }
  tenant {
    currency agreementType
    autoRecharge { ${SETTINGS} }
  }
}`;

const SAVE = `mutation SaveAutoRecharge($enabled: Boolean!, $rechargeAmount: Decimal,
    $triggerBalance: Decimal, $maxRechargesPerDay: Int) {
  configureAutoRecharge(enabled: $enabled, rechargeAmount: $rechargeAmount,
      triggerBalance: $triggerBalance, maxRechargesPerDay: $maxRechargesPerDay) {
    autoRecharge { ${SETTINGS} }
    recharges { number status amount { amount currency } }
    userErrors { field code message }
  }
}`;

// The form's amounts are configureAutoRecharge's arguments; the settings answer them as Money.
const ANSWERED_AS = { rechargeAmount: "topUp", triggerBalance: "threshold" };

function amountOf(settings, name) {
  const value = settings[ANSWERED_AS[name]];
  return value ? value.amount : null;
}

export default {
  path: "/credits/auto-recharge",
  title: "auto.title",
  nav: "nav.auto",
  async render(main) {
    const { viewer, tenant } = await gql(LOAD);
    const settings = tenant.autoRecharge;
    const currency = tenant.currency;
    main.append(h("p", { class: "breadcrumb" }, t("auto.breadcrumb")), h("h1", null, t("auto.title")));
    if (tenant.agreementType === "MCA") main.append(h("p", { class: "notice" }, t("auto.mca")));

    // An amount in the tenant's currency; its label key + "Hint" is the hint's key.
    const amountField = (name, labelKey) =>
      field({
        name,
        label: t(labelKey, { currency }),
        hint: t(`${labelKey}Hint`),
        value: amountInput(amountOf(settings, name)),
        attrs: { inputmode: "decimal", autocomplete: "off" },
      });
    const fields = {
      enabled: field({ name: "enabled", label: t("auto.enabled"), type: "checkbox", value: settings.enabled }),
      rechargeAmount: amountField("rechargeAmount", "auto.rechargeAmount"),
      triggerBalance: amountField("triggerBalance", "auto.triggerBalance"),
      maxRechargesPerDay: field({
        name: "maxRechargesPerDay",
        label: t("auto.maxPerDay"),
        type: "number",
        value: String(settings.maxRechargesPerDay),
        attrs: { min: "1", step: "1", inputmode: "numeric" },
      }),
    };
    const { form, general, submit: save, nodes } = billingForm(viewer.role, fields, t("auto.save"));
    main.append(...nodes);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      for (const f of Object.values(fields)) f.setError("");
      showMessage(general, "");
      // Empty fields are left out (the API keeps what is saved); text that is no number is
      // refused here, where the API could only say the document is invalid.
      const variables = { enabled: fields.enabled.input.checked };
      let bad = null;
      for (const name of ["rechargeAmount", "triggerBalance"]) {
        const text = fields[name].input.value.trim();
        if (!text) continue;
        const value = parseAmount(text);
        if (value === null) {
          fields[name].setError(t("add.notANumber"));
          bad = bad || fields[name];
        } else variables[name] = value;
      }
      const max = fields.maxRechargesPerDay.input.value.trim();
      if (max) {
        if (/^\d+$/.test(max)) variables.maxRechargesPerDay = Number(max);
        else {
          fields.maxRechargesPerDay.setError(t("auto.notAWholeNumber"));
          bad = bad || fields.maxRechargesPerDay;
        }
      }
      if (bad) {
        bad.input.focus();
        return;
      }
      save.disabled = true;
      try {
        const result = (await gql(SAVE, variables)).configureAutoRecharge;
        if (result.userErrors.length) {
          showUserErrors(result.userErrors, fields, general, { currency });
          return;
        }
        const saved = result.autoRecharge;
        fields.rechargeAmount.input.value = amountInput(amountOf(saved, "rechargeAmount"));
        fields.triggerBalance.input.value = amountInput(amountOf(saved, "triggerBalance"));
        const summary = saved.enabled
          ? t("credits.autoRechargeOn", {
              amount: moneyOf(saved.topUp),
              trigger: moneyOf(saved.threshold),
            })
          : t("credits.autoRechargeOff");
        const recharges = result.recharges.length
          ? ` ${t("auto.rechargeStarted", { n: result.recharges.length })}`
          : "";
        showMessage(general, `${t("auto.saved")} ${summary}${recharges}`, "success");
      } catch (error) {
        showMessage(general, error instanceof ConnectionError ? t("connection.failed") : error.message);
      } finally {
        save.disabled = false;
      }
    });
  },
};
