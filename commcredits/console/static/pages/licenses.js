// Licenses (Billing > Licenses): seats per SKU from subscribedSkus (prepaid: enabled,
// suspended, warning; consumed; available; capabilityStatus), named by the catalog's skus,
// and buying seats with purchaseSeats, its userErrors at their fields. The table is read
// again after each purchase, so it shows what the API holds. Each order has one idempotency
// key (crypto.randomUUID(), as on Add credits), kept while its product and quantity stay the
// same: buying again after a lost answer sends the same order, which the API buys once
// (`replayed` answers the first purchase). A new key is made when the product or quantity
// changes, after the purchase went through, or after the API refused it.
import { ConnectionError, gql } from "../api.js";
import {
  billingForm,
  field,
  h,
  section,
  selectField,
  showMessage,
  showUserErrors,
  table,
} from "../dom.js";
import { has, number, t } from "../i18n.js";

const LOAD = `query LicensesPage {
  viewer { role }
  skus { skuPartNumber displayName }
  subscribedSkus {
    id skuPartNumber capabilityStatus consumedUnits availableUnits
    prepaidUnits { enabled suspended warning lockedOut }
  }
}`;

const PURCHASE = `mutation PurchaseSeats($skuPartNumber: String!, $quantity: Int!, $key: String!) {
  purchaseSeats(skuPartNumber: $skuPartNumber, quantity: $quantity, idempotencyKey: $key) {
    replayed
    subscribedSku { skuPartNumber consumedUnits availableUnits prepaidUnits { enabled } }
    userErrors { field code message }
  }
}`;

// Graph's capabilityStatus in words, with a symbol: never told by colour alone.
const STATUS_SYMBOL = { Enabled: "✓", Warning: "⚠", Suspended: "⏸", LockedOut: "✕", Deleted: "✕" };
const INT_MAX = 2147483647;

function statusBadge(status) {
  const key = `licenses.status.${status}`;
  return h(
    "span",
    { class: `status license-status license-status-${status.toLowerCase()}` },
    `${STATUS_SYMBOL[status] || "•"} ${has(key) ? t(key) : status}`,
  );
}

// A userError in this page's words when we have them (the API's message otherwise).
function localized(errors) {
  return errors.map((e) => {
    const key = `licenses.error.${e.code}`;
    return has(key) ? { ...e, message: t(key) } : e;
  });
}

function seatsTable(subscribed, names) {
  const rows = subscribed.map((s) => {
    const p = s.prepaidUnits;
    return [
      h(
        "span",
        { class: "sku-name" },
        names.get(s.skuPartNumber) || s.skuPartNumber,
        h("span", { class: "sku-part" }, s.skuPartNumber),
      ),
      number(p.enabled),
      number(p.warning),
      number(p.suspended),
      number(s.consumedUnits),
      number(s.availableUnits),
      statusBadge(s.capabilityStatus),
    ];
  });
  return table(
    t("licenses.caption", { n: number(rows.length) }),
    [
      t("licenses.col.product"),
      t("licenses.col.prepaid"),
      t("licenses.col.warning"),
      t("licenses.col.suspended"),
      t("licenses.col.consumed"),
      t("licenses.col.available"),
      t("licenses.col.status"),
    ],
    rows,
    t("licenses.none"),
  );
}

export default {
  path: "/licenses",
  title: "licenses.title",
  nav: "nav.licenses",
  async render(main) {
    const { viewer, skus, subscribedSkus } = await gql(LOAD);
    const names = new Map(skus.map((s) => [s.skuPartNumber, s.displayName]));
    const seats = h("div", { id: "seats", class: "seats" });
    seats.append(seatsTable(subscribedSkus, names));
    const loadError = h("p", { class: "form-message error", role: "alert", hidden: true });

    // The seats read again (a failure is said above the table).
    async function reload() {
      try {
        const data = await gql(LOAD);
        seats.replaceChildren(seatsTable(data.subscribedSkus, names));
        loadError.hidden = true;
      } catch (error) {
        loadError.hidden = false;
        loadError.textContent = `⚠ ${error instanceof ConnectionError ? t("connection.failed") : error.message}`;
      }
    }

    // The order not yet known to be bought: its product, quantity and idempotency key.
    let order = null;
    function orderFor(skuPartNumber, quantity) {
      if (!order || order.skuPartNumber !== skuPartNumber || order.quantity !== quantity) {
        order = { skuPartNumber, quantity, key: crypto.randomUUID() };
      }
      return order;
    }

    // Buying: any SKU of the catalog (a first purchase starts its subscription).
    const options = [...skus]
      .sort((a, b) => a.displayName.localeCompare(b.displayName))
      .map((s) => [s.skuPartNumber, `${s.displayName} (${s.skuPartNumber})`]);
    const fields = {
      skuPartNumber: selectField({
        name: "skuPartNumber",
        label: t("licenses.buy.product"),
        value: subscribedSkus.length ? subscribedSkus[0].skuPartNumber : options[0]?.[0],
        options,
      }),
      quantity: field({
        name: "quantity",
        label: t("licenses.buy.quantity"),
        type: "number",
        hint: t("licenses.buy.quantityHint"),
        attrs: { min: "1", step: "1", inputmode: "numeric", autocomplete: "off" },
      }),
    };
    const { form, general, submit, nodes } = billingForm(viewer.role, fields, t("licenses.buy.submit"));
    form.id = "buy-seats";

    main.append(
      h("p", { class: "breadcrumb" }, t("licenses.breadcrumb")),
      h("h1", null, t("licenses.title")),
      section("licenses.seats", h("p", { class: "hint" }, t("licenses.intro")), loadError, seats),
      section("licenses.buy.title", ...nodes),
    );

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      for (const f of Object.values(fields)) f.setError("");
      showMessage(general, "");
      const text = fields.quantity.input.value.trim();
      // A whole number, as the API's Int: anything else could only fail as an invalid document.
      if (!/^-?\d+$/.test(text) || Math.abs(Number(text)) > INT_MAX) {
        fields.quantity.setError(t("licenses.buy.notAWholeNumber"));
        fields.quantity.input.focus();
        return;
      }
      const { skuPartNumber, quantity, key } = orderFor(fields.skuPartNumber.input.value, Number(text));
      submit.disabled = true;
      try {
        const result = (await gql(PURCHASE, { skuPartNumber, quantity, key })).purchaseSeats;
        if (result.userErrors.length) {
          order = null; // refused: nothing was bought, and the next order is a new one
          showUserErrors(localized(result.userErrors), fields, general);
          return;
        }
        order = null; // bought (now or by the first try): buying again is another order
        const sub = result.subscribedSku;
        const bought = {
          n: number(quantity),
          product: names.get(sub.skuPartNumber) || sub.skuPartNumber,
          prepaid: number(sub.prepaidUnits.enabled),
          available: number(sub.availableUnits),
        };
        // A replayed answer: the first try had bought them, and nothing was bought now.
        const said = result.replayed ? t("licenses.buy.replayed", bought) : t("licenses.buy.done", bought);
        showMessage(general, said, "success");
        fields.quantity.input.value = "";
        await reload();
      } catch (error) {
        // No answer: the order may or may not have been bought. It keeps its key, so buying
        // again (the same product and quantity) is safe and buys it at most once.
        showMessage(general, error instanceof ConnectionError ? t("licenses.buy.retrySafe") : error.message);
      } finally {
        submit.disabled = false;
      }
    });
  },
};
