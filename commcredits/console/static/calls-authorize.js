// "Can this user call this number?": authorizeCall (a read, so every role may ask). The
// answer in words with a symbol (allowed, or refused with the reason), the pool minutes left,
// the price per minute and the most minutes the user can talk. Errors of the question (an
// unknown user, a number that is no E.164) are shown at their field.
import { ConnectionError, gql } from "./api.js";
import { callTypeText, countryText, reasonText } from "./calls-format.js";
import { field, formMessage, h, section, selectField, showMessage, showUserErrors } from "./dom.js";
import { has, moneyOf, number, t } from "./i18n.js";

const AUTHORIZE = `query AuthorizeCall($userId: ID!, $destination: String!, $callType: CallType!) {
  authorizeCall(userId: $userId, destination: $destination, callType: $callType) {
    allowed reason callType destinationCountry poolMinutesLeft
    creditsRemaining { amount currency } perMinute { amount currency } maxMinutesAffordable
  }
}`;

const CALL_TYPES = ["DOMESTIC", "INTERNATIONAL", "CONFERENCE_DIAL_OUT", "TOLL_FREE_INBOUND"];

function answer(a) {
  const verdict = a.allowed
    ? h("p", { class: "verdict verdict-allowed" }, `✓ ${t("calls.authorize.allowed")}`)
    : h("p", { class: "verdict verdict-refused" }, `✕ ${t("calls.authorize.refused", { reason: reasonText(a.reason) })}`);
  const facts = [
    [t("calls.authorize.callType"), callTypeText(a.callType)],
    [t("calls.authorize.country"), a.destinationCountry ? countryText(a.destinationCountry) : "—"],
    [t("calls.authorize.poolLeft"), t("calls.minutes", { n: number(a.poolMinutesLeft) })],
    [t("calls.authorize.price"), moneyOf(a.perMinute)],
    [t("calls.authorize.creditsLeft"), moneyOf(a.creditsRemaining)],
    [t("calls.authorize.maxMinutes"), t("calls.minutes", { n: number(a.maxMinutesAffordable) })],
  ];
  return [
    verdict,
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
  ];
}

export function authorizeBox() {
  const fields = {
    userId: field({
      name: "userId",
      label: t("calls.authorize.user"),
      hint: t("calls.authorize.userHint"),
      attrs: { autocomplete: "off", spellcheck: "false", required: true, maxlength: "113" },
    }),
    destination: field({
      name: "destination",
      label: t("calls.authorize.destination"),
      hint: t("calls.authorize.destinationHint"),
      type: "tel",
      attrs: { autocomplete: "off", required: true },
    }),
    callType: selectField({
      name: "callType",
      label: t("calls.authorize.callType"),
      value: "DOMESTIC",
      options: CALL_TYPES.map((c) => [c, callTypeText(c)]),
    }),
  };
  const general = formMessage();
  const submit = h("button", { type: "submit", class: "primary" }, t("calls.authorize.submit"));
  const result = h("div", { id: "authorize-result", class: "authorize-result", role: "status", "aria-live": "polite" });
  const form = h(
    "form",
    { id: "authorize-form", novalidate: true },
    Object.values(fields).map((f) => f.wrap),
    general,
    h("div", { class: "actions" }, submit),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const f of Object.values(fields)) f.setError("");
    showMessage(general, "");
    result.replaceChildren();
    const userId = fields.userId.input.value.trim();
    const destination = fields.destination.input.value.replace(/[\s()-]/g, "");
    const missing = [];
    if (!userId) missing.push({ field: "userId", code: "REQUIRED", message: t("calls.authorize.userMissing") });
    if (!destination) missing.push({ field: "destination", code: "REQUIRED", message: t("calls.authorize.destinationMissing") });
    if (missing.length) {
      showUserErrors(missing, fields, general);
      return;
    }
    submit.disabled = true;
    try {
      const data = await gql(AUTHORIZE, { userId, destination, callType: fields.callType.input.value });
      result.replaceChildren(...answer(data.authorizeCall));
    } catch (error) {
      if (error instanceof ConnectionError) showMessage(general, t("connection.failed"));
      else {
        const key = `calls.error.${error.code}`;
        const message = has(key) ? t(key) : error.message;
        showUserErrors([{ field: error.field, code: error.code, message }], fields, general);
      }
    } finally {
      submit.disabled = false;
    }
  });

  return section(
    "calls.authorize.title",
    h("p", { class: "hint" }, t("calls.authorize.intro")),
    form,
    result,
  );
}
