// Client-side routing by URL (history API): links with data-link and navigate() push a history
// entry, the back button (popstate) renders the entry's page, and a reload asks the server for
// the same path, which serves the same index (commcredits/console PAGES). Pages come from
// pages/registry.js. An operator who has not chosen a tenant gets the tenant picker at any
// page's address; choosing renders that page.
import { ConnectionError, SignedOut, TenantRefused, connection } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { pages } from "./pages/registry.js";
import { tenantPicker } from "./tenant-picker.js";

let outlet = null; // the <main> element pages render into
let context = null; // what every page gets: session, navigate, …
let cleanup = null; // the current page's teardown (closes its websocket)
let generation = 0;
let failed = false; // the current page's render failed for want of an answer: retried on "restored"

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
  // A page that could not load because the server did not answer loads again once it does.
  connection.addEventListener("restored", () => {
    if (failed) render({ keepFocus: true });
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
// to the sign-in page, which comes back here afterwards (history state `next`). Each render
// gets its own container in <main>: a page still waiting for an answer when the visitor moves
// on writes into its own container, no longer shown, never into the next page.
export async function render({ keepFocus = false } = {}) {
  generation += 1;
  const mine = generation;
  failed = false;
  if (cleanup) cleanup();
  cleanup = null;
  let page = currentPage();
  if (page && page.requiresSession !== false && !context.session()) {
    navigate("/sign-in", { replace: true, state: { next: here() } });
    return;
  }
  if (page && page.requiresSession !== false && context.needsTenant()) page = tenantPicker;
  const view = h("div", { class: "page" });
  outlet.replaceChildren(view);
  context.onPage(page);
  if (!page) {
    document.title = `${t("notFound.title")} — commcredits`;
    view.append(
      h("h1", { tabindex: "-1" }, t("notFound.title")),
      h("p", null, h("a", { href: "/credits", "data-link": true }, t("nav.credits"))),
    );
    view.querySelector("h1").focus();
    return;
  }
  document.title = `${t(page.title)} — commcredits`;
  try {
    const result = await page.render(view, context);
    if (mine !== generation) {
      if (typeof result === "function") result(); // navigated away meanwhile
      return;
    }
    cleanup = typeof result === "function" ? result : null;
  } catch (error) {
    if (mine !== generation) return; // a later page is showing: this one's failure is not news
    if (error instanceof SignedOut) {
      context.signedOut();
      return;
    }
    if (error instanceof TenantRefused) {
      return; // api.js told main.js (tenancy "refused"): the picker says why
    }
    if (!view.querySelector("h1")) view.prepend(h("h1", null, t(page.title)));
    if (error instanceof ConnectionError) {
      // Tried again by the button, or by itself when the connection comes back.
      failed = true;
      view.append(
        h("p", { class: "form-message error", role: "alert" }, `⚠ ${t("connection.failed")}`),
        h("p", null, h("button", { type: "button", onclick: () => render() }, t("connection.retry"))),
      );
    } else {
      view.append(h("p", { class: "form-message error", role: "alert" }, `⚠ ${error.message}`));
    }
  }
  // Focus the page's heading, so keyboard and screen-reader users start on the new page.
  const heading = view.querySelector("h1");
  if (heading && !keepFocus) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
}
