// Sign-in: an API key pasted here becomes a session cookie (POST /auth/session); the key is
// not kept anywhere in the browser. The one-time link `make run` prints signs in too.
import { ApiError, ConnectionError, signIn } from "../api.js";
import { field, formMessage, h, present, showMessage } from "../dom.js";
import { t } from "../i18n.js";

export default {
  path: "/sign-in",
  title: "signIn.title",
  requiresSession: false,
  render(main, ctx) {
    const next = (history.state && history.state.next) || "/credits";
    const key = field({
      name: "key",
      label: t("signIn.key"),
      type: "password",
      hint: t("signIn.hint"),
      attrs: { autocomplete: "off", spellcheck: "false", required: true },
    });
    const general = formMessage();
    const button = h("button", { type: "submit", class: "primary" }, t("signIn.submit"));
    const form = h("form", { novalidate: true }, key.wrap, general, h("div", { class: "actions" }, button));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      key.setError("");
      showMessage(general, "");
      if (!key.input.value.trim()) {
        key.setError(t("signIn.empty"));
        key.input.focus();
        return;
      }
      button.disabled = true;
      try {
        const session = await signIn(key.input.value.trim());
        key.input.value = "";
        ctx.setSession(session);
        ctx.navigate(next === "/sign-in" ? "/credits" : next, { replace: true });
      } catch (error) {
        if (error instanceof ConnectionError) showMessage(general, t("connection.failed"));
        else if (error instanceof ApiError && error.code === "UNAUTHENTICATED") {
          key.setError(t("signIn.invalid"));
          key.input.focus();
        } else showMessage(general, error.message);
      } finally {
        button.disabled = false;
      }
    });
    const signedIn = ctx.session();
    main.append(
      ...present(
      h("h1", null, t("signIn.title")),
      signedIn
        ? h("p", { class: "notice" }, t("signIn.already", { role: signedIn.role }))
        : null,
      h("p", null, t("signIn.intro")),
      form,
      ),
    );
  },
};
