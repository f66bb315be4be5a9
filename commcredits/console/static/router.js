// Client-side routing by URL (history API): links with data-link and navigate() push a history
// entry, the back button (popstate) renders the entry's page, and a reload asks the server for
// the same path, which serves the same index (commcredits/console PAGES). Pages come from
// pages/registry.js. An operator who has not chosen a tenant gets the tenant picker at any
// page's address; choosing renders that page.
import { SignedOut, TenantRefused } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { pages } from "./pages/registry.js";
import { tenantPicker } from "./tenant-picker.js";

let outlet = null; // the <main> element pages render into
let context = null; // what every page gets: session, navigate, …
let cleanup = null; // the current page's teardown (closes its websocket)
let generation = 0;

export function startRouter(main, ctx) {
  outlet = main;
  context = ctx;
  window.addEventListener("popstate", () => render());
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-link]");
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(link.getAttribute("href"));
  });
}

// Where the visitor is, query included (/users/user?id=…, /calls?month=…): what the sign-in
// page brings them back to.
export function here() {
  return location.pathname + location.search;
}

export function navigate(path, { replace = false, state = null } = {}) {
  if (replace) history.replaceState(state, "", path);
  else if (path !== here()) history.pushState(state, "", path);
  render();
}

export function currentPage() {
  return pages.find((p) => p.path === location.pathname) || null;
}

// Renders the page of the current URL. A page that needs a session sends a signed-out visitor
// to the sign-in page, which comes back here afterwards (history state `next`).
export async function render({ keepFocus = false } = {}) {
  generation += 1;
  const mine = generation;
  if (cleanup) cleanup();
  cleanup = null;
  let page = currentPage();
  if (page && page.requiresSession !== false && !context.session()) {
    navigate("/sign-in", { replace: true, state: { next: here() } });
    return;
  }
  if (page && page.requiresSession !== false && context.needsTenant()) page = tenantPicker;
  outlet.replaceChildren();
  context.onPage(page);
  if (!page) {
    document.title = `${t("notFound.title")} — commcredits`;
    outlet.append(
      h("h1", { tabindex: "-1" }, t("notFound.title")),
      h("p", null, h("a", { href: "/credits", "data-link": true }, t("nav.credits"))),
    );
    outlet.querySelector("h1").focus();
    return;
  }
  document.title = `${t(page.title)} — commcredits`;
  try {
    const result = await page.render(outlet, context);
    if (mine !== generation) {
      if (typeof result === "function") result(); // navigated away meanwhile
      return;
    }
    cleanup = typeof result === "function" ? result : null;
  } catch (error) {
    if (error instanceof SignedOut) {
      context.signedOut();
      return;
    }
    if (error instanceof TenantRefused) {
      return; // api.js told main.js (tenancy "refused"): the picker says why
    }
    outlet.append(h("p", { class: "form-message error", role: "alert" }, `⚠ ${error.message}`));
  }
  // Focus the page's heading, so keyboard and screen-reader users start on the new page.
  const heading = outlet.querySelector("h1");
  if (heading && !keepFocus) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
}
