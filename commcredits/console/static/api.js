// The public API and nothing else: POST /graphql (with the CSRF token), /auth/session for
// signing in and out. Also the connection state the banner shows: a request that gets no
// answer (or a 5xx) marks the connection lost until a probe or the next request succeeds.
// And an operator's choice of tenant (README "Admin console"), sent with every request.

const CSRF_COOKIE = "commcredits_csrf";
const PROBE_MS = 2000;

// Thrown when the server did not answer: the page offers a retry and the banner shows.
export class ConnectionError extends Error {}
// Thrown when the session is missing or over: the app goes to the sign-in page. gql() also
// announces it (`session` "ended"), so a form that catches the error to show it in place
// still leads to the sign-in page rather than to a message with no way to sign in.
export class SignedOut extends Error {}
// A GraphQL error (not a userError): shown where the request was made, never swallowed.
// `field` is the argument it names (extensions.field), when it names one.
export class ApiError extends Error {
  constructor(message, code, field = null) {
    super(message);
    this.code = code;
    this.field = field;
  }
}

// The operator's chosen tenant was refused (404: gone; 403: the session is no longer an
// operator's): the choice is cleared and the console asks again. Not an ApiError, which pages
// show in place: this one goes up to the router.
export class TenantRefused extends Error {}

function apiError(error) {
  const ext = error.extensions || {};
  return new ApiError(error.message, ext.code, ext.field || null);
}

// --- connection state -------------------------------------------------------------------------

export const connection = new EventTarget();
// "refused" (detail: the tenant's name): the server refused the chosen tenant, whichever
// request found out (a page's first read, a pager, a form); the choice is cleared already.
export const tenancy = new EventTarget();
// "ended": a request found the session over (main.js goes to the sign-in page).
export const session = new EventTarget();
const down = new Set(); // "http", "live": what currently fails
let probe = null;

export function markConnection(source, ok) {
  const wasDown = down.size > 0;
  if (ok) down.delete(source);
  else down.add(source);
  if (down.has("http") && !probe) probe = setInterval(probeServer, PROBE_MS);
  if (!down.has("http") && probe) {
    clearInterval(probe);
    probe = null;
  }
  const isDown = down.size > 0;
  if (wasDown !== isDown) {
    connection.dispatchEvent(new CustomEvent(isDown ? "lost" : "restored"));
  }
}

export function connectionLost() {
  return down.size > 0;
}

async function probeServer() {
  try {
    const response = await fetch("/healthz", { cache: "no-store" });
    if (response.ok) markConnection("http", true);
  } catch {
    // still down; the next probe tries again
  }
}

// --- an operator's tenant (README "Operator") -------------------------------------------------

// An operator's session belongs to no tenant; the one it looks into is named in the
// X-Commcredits-Tenant header of every request (and the websocket's connection_init). The
// choice lives in sessionStorage: per tab (two tabs, two tenants), kept over a reload, gone
// with the tab and cleared at sign-out and sign-in.
const TENANT_STORAGE = "commcredits.console.tenant";
export const TENANT_HEADER = "X-Commcredits-Tenant";

// { ref, name }: `ref` is what the header carries, `name` what the console shows. Kept in
// memory too, so a browser with storage off still works until the next reload.
let current = readStored();

function readStored() {
  try {
    const found = JSON.parse(sessionStorage.getItem(TENANT_STORAGE) || "null");
    return found && typeof found.ref === "string" && typeof found.name === "string" ? found : null;
  } catch {
    return null; // storage off, or not a value this console wrote
  }
}

export function chosenTenant() {
  return current;
}

export function chooseTenant(tenant) {
  current = { ref: tenant.ref, name: tenant.name };
  try {
    sessionStorage.setItem(TENANT_STORAGE, JSON.stringify(current));
  } catch {
    // storage off: chosen for this page load only
  }
}

// The chosen tenant's name as the server now has it (renamed elsewhere): changed in place, so
// requests in flight still know it as the current choice (gql's "still the choice" check).
export function renameChosenTenant(name) {
  if (!current) return;
  current.name = name;
  try {
    sessionStorage.setItem(TENANT_STORAGE, JSON.stringify(current));
  } catch {
    // storage off: renamed for this page load only
  }
}

export function clearTenant() {
  current = null;
  try {
    sessionStorage.removeItem(TENANT_STORAGE);
  } catch {
    // nothing stored
  }
}

// What the header says for a tenant: its id, the number inside its Relay global id
// ("Tenant:7"), which the server reads as an id (services/tenants.find_tenant). Not its name: a
// tenant renamed after the choice would then be refused, and a name may hold what a header
// cannot carry (fetch() refuses values beyond ISO-8859-1). The name only if the id is not one
// of ours (the server takes that as a name, as it would a typed one).
export function tenantRef(tenant) {
  try {
    const raw = atob(tenant.id.replace(/-/g, "+").replace(/_/g, "/"));
    const [type, pk] = raw.split(":");
    if (type === "Tenant" && /^[1-9]\d*$/.test(pk)) return pk;
  } catch {
    // not a global id of ours
  }
  return tenant.name;
}

// --- requests -------------------------------------------------------------------------------

function csrfToken() {
  const prefix = `${CSRF_COOKIE}=`;
  const found = document.cookie.split("; ").find((c) => c.startsWith(prefix));
  return found ? decodeURIComponent(found.slice(prefix.length)) : "";
}

async function send(url, options) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", cache: "no-store", ...options });
  } catch (error) {
    markConnection("http", false);
    throw new ConnectionError(error.message);
  }
  if (response.status >= 500) {
    markConnection("http", false);
    throw new ConnectionError(`HTTP ${response.status}`);
  }
  markConnection("http", true);
  return response;
}

async function firstError(response) {
  try {
    const body = await response.json();
    const error = body && body.errors && body.errors[0];
    if (error) return apiError(error);
  } catch {
    // not JSON
  }
  return new ApiError(`HTTP ${response.status}`, null);
}

// A mutation refused for want of a session says so as a userError (code UNAUTHENTICATED),
// not in `errors`: anywhere in `data` (a payload's userErrors, or a batch's per-item ones).
function unauthenticated(value, depth = 0) {
  if (!value || typeof value !== "object" || depth > 4) return false;
  if (Array.isArray(value)) return value.some((v) => unauthenticated(v, depth + 1));
  if (Array.isArray(value.userErrors) && value.userErrors.some((e) => e && e.code === "UNAUTHENTICATED")) {
    return true;
  }
  return Object.values(value).some((v) => unauthenticated(v, depth + 1));
}

function signedOut() {
  session.dispatchEvent(new CustomEvent("ended"));
  return new SignedOut();
}

// One GraphQL operation; resolves to `data`. Mutations report refusals as userErrors inside
// `data` (the page shows them at their fields), except an ended session, which is thrown as
// SignedOut like a query's; anything in `errors` is thrown.
// `tenant` overrides the chosen tenant's header value (the picker checking a typed name).
export async function gql(query, variables = {}, { tenant = undefined } = {}) {
  const headers = { "content-type": "application/json", "x-csrf-token": csrfToken() };
  const chosen = tenant === undefined ? chosenTenant() : null; // the choice this request is for
  const ref = tenant === undefined ? chosen?.ref : tenant;
  if (ref) headers[TENANT_HEADER] = ref;
  const response = await send("/graphql", {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  if (response.status === 401) throw signedOut();
  // The header refused: 404 NOT_FOUND (no such tenant now), 403 FORBIDDEN (not an operator's
  // session now). Other 403s (CSRF_FAILED) are not about the tenant.
  const scope = { 404: "NOT_FOUND", 403: "FORBIDDEN" }[response.status];
  const scoped = chosen && scope ? await firstError(response) : null;
  if (scoped && scoped.code === scope) {
    const refused = new TenantRefused(scoped.message);
    refused.tenant = chosen.name;
    // Only while it is still the choice: a second request in flight for it (a page reads in
    // parallel) is not announced twice, and one sent before a switch clears no newer choice.
    if (chosenTenant() === chosen) {
      clearTenant();
      tenancy.dispatchEvent(new CustomEvent("refused", { detail: refused.tenant }));
    }
    throw refused;
  }
  if (scoped) throw scoped;
  if (!response.ok) throw await firstError(response);
  const body = await response.json();
  if (body.errors && body.errors.length) {
    const error = body.errors[0];
    const code = error.extensions && error.extensions.code;
    if (code === "UNAUTHENTICATED") throw signedOut();
    throw apiError(error);
  }
  if (unauthenticated(body.data)) throw signedOut();
  return body.data;
}

// --- the session (README "Browser sign-in with a session cookie") ---------------------------

// Who is signed in ({role, tenant, …}), or null.
export async function currentSession() {
  const response = await send("/auth/session", { method: "GET" });
  if (response.status === 401) return null;
  if (!response.ok) throw await firstError(response);
  return response.json();
}

export async function signIn(key) {
  clearTenant(); // a new session starts without the last one's tenant
  const response = await send("/auth/session", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ key }),
  });
  if (!response.ok) throw await firstError(response);
  return response.json();
}

export async function signOut() {
  clearTenant();
  const response = await send("/auth/session", {
    method: "DELETE",
    headers: { "x-csrf-token": csrfToken() },
  });
  if (!response.ok && response.status !== 401) throw await firstError(response);
}
