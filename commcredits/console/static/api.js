// The public API and nothing else: POST /graphql (with the CSRF token), /auth/session for
// signing in and out. Also the connection state the banner shows: a request that gets no
// answer (or a 5xx) marks the connection lost until a probe or the next request succeeds.

const CSRF_COOKIE = "commcredits_csrf";
const PROBE_MS = 2000;

// Thrown when the server did not answer: the page offers a retry and the banner shows.
export class ConnectionError extends Error {}
// Thrown when the session is missing or over: the app goes to the sign-in page.
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

function apiError(error) {
  const ext = error.extensions || {};
  return new ApiError(error.message, ext.code, ext.field || null);
}

// --- connection state -------------------------------------------------------------------------

export const connection = new EventTarget();
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

// One GraphQL operation; resolves to `data`. Mutations report refusals as userErrors inside
// `data` (the page shows them at their fields); anything in `errors` is thrown.
export async function gql(query, variables = {}) {
  const response = await send("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": csrfToken() },
    body: JSON.stringify({ query, variables }),
  });
  if (response.status === 401) throw new SignedOut();
  if (!response.ok) throw await firstError(response);
  const body = await response.json();
  if (body.errors && body.errors.length) {
    const error = body.errors[0];
    const code = error.extensions && error.extensions.code;
    if (code === "UNAUTHENTICATED") throw new SignedOut();
    throw apiError(error);
  }
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
  const response = await send("/auth/session", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ key }),
  });
  if (!response.ok) throw await firstError(response);
  return response.json();
}

export async function signOut() {
  const response = await send("/auth/session", {
    method: "DELETE",
    headers: { "x-csrf-token": csrfToken() },
  });
  if (!response.ok && response.status !== 401) throw await firstError(response);
}
