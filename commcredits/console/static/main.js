// Starts the console: the shell (skip link, header with navigation, language switch and
// sign-out, the connection banner, <main>), the session, then the page of the URL. An
// operator's session has no tenant: the header shows the one it chose (api.js keeps it) and
// a way to choose another; until it has one, the router shows the tenant picker.
import {
  chooseTenant,
  chosenTenant,
  clearTenant,
  connection,
  currentSession,
  gql,
  renameChosenTenant,
  session as sessionEvents,
  signOut,
  tenancy,
} from "./api.js";
import { h, present } from "./dom.js";
import { LANGUAGES, language, onLanguageChange, setLanguage, t } from "./i18n.js";
import { pages } from "./pages/registry.js";
import { currentPage, here, navigate, render, startRouter } from "./router.js";

let session = null;
let refusedTenant = null; // the name of a chosen tenant the server refused, for the picker
const root = document.getElementById("app");
const banner = h("div", { id: "connection-banner", class: "banner", role: "status", hidden: true });
const header = h("header", { class: "top" });
const main = h("main", { id: "main", tabindex: "-1" });

function renderBanner(lost) {
  banner.hidden = !lost;
  banner.textContent = lost ? `⚠ ${t("connection.lost")}` : "";
}

function isOperator() {
  return Boolean(session && session.role === "OPERATOR" && !session.tenant);
}

function needsTenant() {
  return isOperator() && !chosenTenant();
}

function renderHeader() {
  const page = currentPage();
  const tenant = shownTenant();
  const nav = h(
    "nav",
    { "aria-label": t("nav.label") },
    h(
      "ul",
      null,
      pages
        .filter((p) => p.nav && session && !needsTenant())
        .map((p) =>
          h(
            "li",
            null,
            h(
              "a",
              { href: p.path, "data-link": true, "aria-current": p === page ? "page" : null },
              t(p.nav),
            ),
          ),
        ),
    ),
  );
  const languages = h(
    "div",
    { class: "languages", role: "group", "aria-label": t("language.label") },
    LANGUAGES.map((code) =>
      h(
        "button",
        {
          type: "button",
          lang: code,
          "aria-pressed": code === language() ? "true" : "false",
          onclick: () => setLanguage(code),
        },
        t(`language.${code}`),
      ),
    ),
  );
  const who = session
    ? h(
        "div",
        { class: "who" },
        ...present(
        h("span", { id: "who" }, t("header.signedIn", { tenant: tenant ? tenant.name : t("header.noTenant"), role: session.role })),
        isOperator() && tenant
          ? h("button", { type: "button", "aria-describedby": "who", onclick: switchTenant }, t("header.switchTenant"))
          : null,
        h("button", { type: "button", onclick: doSignOut }, t("header.signOut")),
        ),
      )
    : null;
  header.replaceChildren(
    ...present(
    h("a", { class: "brand", href: "/credits", "data-link": true }, "commcredits"),
    nav,
    // Every page here is made of GraphQL requests; GraphiQL (same session) shows them.
    h(
      "div",
      { class: "tools" },
      h("a", { href: "/graphql", class: "explorer", title: t("header.graphiqlHint") }, "GraphiQL"),
      languages,
      who,
    ),
    ),
  );
}

// The header's tenant name, read again with each page: a tenant renamed elsewhere (GraphiQL,
// another admin) shows its new name from the next page on, not only after a new choice or
// sign-in. Its failures are left to the page's own requests, which report a refused tenant,
// an ended session or a lost connection (api.js announces a refusal whichever request learns
// it).
const HEADER_TENANT = "query HeaderTenant { tenant { name } }";

function shownTenant() {
  return isOperator() ? chosenTenant() : session && session.tenant;
}

async function refreshTenantName() {
  const asked = shownTenant();
  if (!asked) return;
  let name;
  try {
    const data = await gql(HEADER_TENANT);
    name = data.tenant && data.tenant.name;
  } catch {
    return;
  }
  // Only for the tenant asked about: a switch or sign-out meanwhile shows another (or none).
  if (!name || name === asked.name || shownTenant() !== asked) return;
  if (isOperator()) renameChosenTenant(name);
  else session.tenant = { ...session.tenant, name };
  renderHeader();
}

// Back to the picker at the same address: the next choice shows this page for that tenant.
function switchTenant() {
  clearTenant();
  refusedTenant = null;
  renderHeader();
  render();
}

async function doSignOut() {
  try {
    await signOut();
  } finally {
    session = null; // signOut() cleared the chosen tenant first, even if it then failed
    renderHeader();
    navigate("/sign-in");
  }
}

const context = {
  session: () => session,
  setSession(value) {
    session = value;
    renderHeader();
  },
  // The session ended (a page's request, a form's, the live socket): to the sign-in page, which
  // brings the visitor back here, query and all. Once, however many requests found out.
  signedOut() {
    session = null;
    renderHeader();
    if (location.pathname === "/sign-in") return;
    navigate("/sign-in", { replace: true, state: { next: here() } });
  },
  navigate,
  onPage(page) {
    renderHeader();
    if (page && page.requiresSession !== false && session && !needsTenant()) refreshTenantName();
  },
  needsTenant,
  chooseTenant(tenant) {
    chooseTenant(tenant);
    refusedTenant = null;
    renderHeader();
    render();
  },
  // The server refused the chosen tenant (api.js cleared it): the picker says which.
  tenantRefused(name) {
    refusedTenant = name;
    renderHeader();
    render();
  },
  tenantNotice: () => refusedTenant,
};

async function start() {
  document.documentElement.lang = language();
  root.replaceChildren(
    h("a", { class: "skip-link", href: "#main" }, t("nav.skip")),
    header,
    banner,
    main,
  );
  connection.addEventListener("lost", () => renderBanner(true));
  // Whatever request learns that the chosen tenant is refused, back to the picker, saying so.
  tenancy.addEventListener("refused", (event) => context.tenantRefused(event.detail));
  // Whatever request learns that the session is over, to the sign-in page.
  sessionEvents.addEventListener("ended", () => context.signedOut());
  // Pages re-read what they show themselves when the connection comes back (credits.js on
  // its socket's reconnect); a re-render here would drop a form's state, e.g. an order review.
  connection.addEventListener("restored", () => renderBanner(false));
  onLanguageChange(() => {
    root.querySelector(".skip-link").textContent = t("nav.skip");
    renderBanner(!banner.hidden);
    render({ keepFocus: true });
  });
  startRouter(main, context);
  try {
    session = await currentSession();
  } catch {
    session = null; // the banner says the server is unreachable; sign-in shows meanwhile
  }
  // A choice left from another session in this tab (a tenant key's, or signed out by expiry).
  if (!isOperator()) clearTenant();
  renderHeader();
  render();
}

start();
