// A small graphql-transport-ws client (the protocol GraphiQL and graphql-ws speak) for one
// subscription: it signs in with the session cookie (same-origin upgrade; connection_init
// carries only an operator's chosen tenant, as X-Commcredits-Tenant), reconnects with backoff
// when the socket drops, reports the connection state for the banner, and calls onReconnect so
// the page re-reads what it may have missed (events are not replayed).
import {
  ConnectionError,
  SignedOut,
  TENANT_HEADER,
  TenantRefused,
  chosenTenant,
  currentSession,
  gql,
  markConnection,
} from "./api.js";

const MAX_BACKOFF_MS = 10000;
// The server refused the connection: 4403 (the protocol's Forbidden) for an ended session and
// for a refused tenant alike, 4401 for a subscribe it did not expect. Which it was is asked
// over HTTP (refusalCheck), not guessed from the close.
const REFUSED_CLOSE_CODES = new Set([4401, 4403]);
// Refused as any request of a page is (api.js gql): 404/403 for the chosen tenant, 401 once
// the session is over (viewer needs a caller, so no cookie at all is refused too).
const CHECK = "query LiveCheck { viewer { role } }";

// A re-read a page starts on its own (after a live event or a reconnect), with no render
// waiting on it: a refused tenant is announced by api.js (the picker says so) and a lost
// connection by the banner, an ended session signs out; anything else is a fault of ours,
// logged.
export function reread(promise, { onSignedOut }) {
  promise.catch((error) => {
    if (error instanceof TenantRefused || error instanceof ConnectionError) return;
    if (error instanceof SignedOut) {
      if (onSignedOut) onSignedOut();
      return;
    }
    console.error(error);
  });
}

export function subscribe(query, variables, { next, onReconnect, onSignedOut }) {
  let socket = null;
  let stopped = false;
  let attempts = 0;
  let timer = null;
  let dropped = false; // a socket was lost since the last acknowledged one

  function connect() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
    socket = new WebSocket(url, "graphql-transport-ws");
    // Read at each (re)connect: the tenant is the one of the page that opened the socket (a
    // switch re-renders the page, which closes this socket and opens another).
    const tenant = chosenTenant();
    const payload = tenant ? { [TENANT_HEADER]: tenant.ref } : {};
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "connection_init", payload }));
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === "connection_ack") {
        attempts = 0;
        markConnection("live", true);
        socket.send(
          JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }),
        );
        if (dropped) {
          dropped = false;
          if (onReconnect) onReconnect();
        }
      } else if (message.type === "next" && message.id === "1") {
        next(message.payload.data);
      } else if (message.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (message.type === "error") {
        console.error("subscription refused", message.payload);
      }
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      if (stopped) return;
      if (REFUSED_CLOSE_CODES.has(event.code)) refusalCheck();
      else retry(true);
    });
  }

  function retry(lost) {
    dropped = true;
    if (lost) markConnection("live", false);
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempts);
    attempts += 1;
    timer = setTimeout(connect, delay);
  }

  // The socket says only "refused". First whether the session holds (GET /auth/session, as
  // at start), then, for an operator, one request with the chosen tenant: api.js answers it as
  // any request of a page, so a refused tenant is cleared and announced there (api.js
  // "refused": main.js shows the picker with the same message, and that render stops this
  // socket). An ended session signs out. If both hold (or the server is away), reconnect as
  // after a drop.
  async function refusalCheck() {
    try {
      const session = await currentSession();
      if (stopped) return;
      if (!session) {
        if (onSignedOut) onSignedOut();
        return;
      }
      if (chosenTenant()) await gql(CHECK);
    } catch (error) {
      if (stopped || error instanceof TenantRefused) return;
      if (error instanceof SignedOut) {
        if (onSignedOut) onSignedOut(); // ended between the two requests
        return;
      }
      if (!(error instanceof ConnectionError)) console.warn("live check failed", error);
    }
    if (!stopped) retry(false);
  }

  connect();
  return function unsubscribe() {
    stopped = true;
    clearTimeout(timer);
    markConnection("live", true);
    if (socket) {
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ id: "1", type: "complete" }));
      }
      socket.close(1000, "page left");
    }
  };
}
