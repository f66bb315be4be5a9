// Add credits (Marketplace): amount → order review (purchaseCredits with whatIf: the DRAFT
// invoice) → place order. The idempotency key is made once per order, when its review is
// shown, and sent with the order however often it is sent: a double click, a retry after a
// lost answer, or a resend all buy once (the API answers `replayed`). The button is also
// disabled while the order is in flight.
import { ConnectionError, gql } from "../api.js";
import {
  billingForm,
  field,
  formMessage,
  h,
  showMessage,
  showUserErrors,
  table,
} from "../dom.js";
import { amountExamples, date, moneyOf, parseAmount, t } from "../i18n.js";

const CONTEXT = `query AddCreditsPage {
  viewer { role }
  tenant {
    currency agreementType
    balance { remaining { amount currency } }
    billingProfile { companyName city country paymentMethod cardTokenHint }
  }
}`;

const ORDER = `mutation PurchaseCredits($amount: Decimal!, $key: String!, $whatIf: Boolean!) {
  purchaseCredits(amount: $amount, idempotencyKey: $key, whatIf: $whatIf) {
    whatIf replayed
    invoice { number status amount { amount currency } reason paymentMethod }
    lot { expiresAt }
    balance { remaining { amount currency } }
    userErrors { field code message }
  }
}`;

export default {
  path: "/credits/add",
  title: "add.title",
  nav: "nav.add",
  async render(main) {
    const { viewer, tenant } = await gql(CONTEXT);
    const currency = tenant.currency;
    main.append(h("p", { class: "breadcrumb" }, t("add.breadcrumb")), h("h1", null, t("add.title")));
    if (tenant.agreementType === "MCA") {
      main.append(h("p", { class: "notice" }, t("add.mca")));
      return;
    }
    const body = h("div");
    main.append(
      h("p", { id: "current-balance" }, t("add.current", { balance: moneyOf(tenant.balance.remaining) })),
      body,
    );
    const profile = tenant.billingProfile;
    let lastAmount = "";

    function edit(errors = []) {
      const amount = field({
        name: "amount",
        label: t("add.amount", { currency }),
        value: lastAmount,
        hint: t("add.amountHint", { examples: amountExamples(currency) }),
        attrs: { inputmode: "decimal", autocomplete: "off", required: true },
      });
      const { form, general, submit: review, nodes } = billingForm(viewer.role, { amount }, t("add.review"));
      body.replaceChildren(...nodes);
      if (errors.length) showUserErrors(errors, { amount }, general, { currency });
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const value = parseAmount(amount.input.value);
        lastAmount = amount.input.value;
        if (value === null) {
          amount.setError(t("add.notANumber"));
          amount.input.focus();
          return;
        }
        // The order's key: made now, once, and kept by the review below for the purchase.
        const key = crypto.randomUUID();
        review.disabled = true;
        try {
          const data = await gql(ORDER, { amount: value, key, whatIf: true });
          const result = data.purchaseCredits;
          if (result.userErrors.length) showUserErrors(result.userErrors, { amount }, general, { currency });
          else showReview(value, key, result);
        } catch (error) {
          showMessage(general, error instanceof ConnectionError ? t("connection.failed") : error.message);
        } finally {
          review.disabled = false;
        }
      });
      if (!errors.length) amount.input.focus();
    }

    function showReview(value, key, draft) {
      const invoice = draft.invoice;
      const lines = table(
        t("review.caption"),
        [t("col.item"), t("col.amount")],
        [
          [
            draft.lot
              ? t("review.line", { expires: date(draft.lot.expiresAt) })
              : t("review.line12"),
            moneyOf(invoice.amount),
          ],
          [h("strong", null, t("review.total")), h("strong", null, moneyOf(invoice.amount))],
        ],
        "",
      );
      const payment =
        profile.paymentMethod === "CARD"
          ? t("review.card", { hint: profile.cardTokenHint || "" })
          : t("review.invoice");
      const general = formMessage();
      const place = h("button", { type: "button", class: "primary", id: "place-order" }, t("review.place"));
      const change = h("button", { type: "button" }, t("review.change"));
      let inFlight = false;
      place.addEventListener("click", async () => {
        if (inFlight) return; // a second click while the first is on its way does nothing
        inFlight = true;
        place.disabled = true;
        change.disabled = true;
        place.textContent = t("review.placing");
        try {
          const data = await gql(ORDER, { amount: value, key, whatIf: false });
          const result = data.purchaseCredits;
          if (result.userErrors.length) {
            const atAmount = result.userErrors.some((e) => e.field === "amount");
            if (atAmount) return edit(result.userErrors);
            showUserErrors(result.userErrors, {}, general, { currency });
          } else return done(result);
        } catch (error) {
          // No answer: the order may or may not have been placed. Sending it again with the
          // same key is safe, so the button comes back as "try again".
          showMessage(general, error instanceof ConnectionError ? t("review.retrySafe") : error.message);
        }
        inFlight = false;
        place.disabled = false;
        change.disabled = false;
        place.textContent = t("review.place");
      });
      change.addEventListener("click", () => edit());
      body.replaceChildren(
        h(
          "section",
          { class: "card", "aria-labelledby": "review-heading" },
          h("h2", { id: "review-heading", tabindex: "-1" }, t("review.title")),
          h("p", null, t("review.status"), " ", h("span", { class: "status status-draft" }, `✎ ${t("invoice.status.DRAFT")}`)),
          lines,
          h(
            "dl",
            { class: "facts" },
            h("dt", null, t("review.billedTo")),
            h("dd", null, [profile.companyName, profile.city, profile.country].filter(Boolean).join(", ") || "—"),
            h("dt", null, t("review.payment")),
            h("dd", null, payment),
          ),
          general,
          h("div", { class: "actions" }, place, change),
        ),
      );
      body.querySelector("#review-heading").focus();
    }

    function done(result) {
      const invoice = result.invoice;
      body.replaceChildren(
        h(
          "section",
          { class: "card", "aria-labelledby": "done-heading" },
          h("h2", { id: "done-heading", tabindex: "-1" }, `✓ ${t("done.title")}`),
          h(
            "p",
            { id: "order-result", role: "status" },
            t("done.text", {
              number: invoice.number,
              status: t(`invoice.status.${invoice.status}`),
              amount: moneyOf(invoice.amount),
              balance: result.balance ? moneyOf(result.balance.remaining) : "—",
            }),
          ),
          h(
            "div",
            { class: "actions" },
            h("a", { href: "/credits", "data-link": true, class: "button primary" }, t("done.toCredits")),
          ),
        ),
      );
      if (result.balance) {
        main.querySelector("#current-balance").textContent = t("add.current", { balance: moneyOf(result.balance.remaining) });
      }
      lastAmount = "";
      const more = h("button", { type: "button" }, t("done.more"));
      more.addEventListener("click", () => edit());
      body.querySelector(".actions").append(more);
      body.querySelector("#done-heading").focus();
    }

    edit();
  },
};
