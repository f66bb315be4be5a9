// Starts GraphiQL on the page commcredits/graphiql.py serves at GET /graphql.
//
// A file of its own, not an inline <script>, so the page's Content-Security-Policy can allow
// scripts from 'self' only. What differs per page comes from the JSON block #graphiql-config.
// Loaded after React, ReactDOM, GraphiQL, GraphiQLPluginExplorer and graphqlWs (window globals
// of their UMD builds, shipped in the package next to this file).
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("graphiql-config").textContent);

  // GraphiQL's dialogs add a <style> element for their scroll lock; it carries this nonce, which
  // the page's CSP (style-src) allows for this one response.
  window.__webpack_nonce__ = config.styleNonce;

  // The API is this page's own URL; subscriptions (graphql-transport-ws) go to the same path
  // on ws:// or wss://. No URL parameter is read: a key must never travel in a URL.
  var httpUrl = window.location.origin + window.location.pathname;
  var wsUrl = httpUrl.replace(/^http/, "ws");

  // The headers of the Headers tab, as GraphiQL last sent them: a websocket carries them in its
  // connection_init payload (the same object GraphiQL's own subscriptionUrl option would send).
  var latestHeaders = {};
  var socket = { key: null, client: null };

  function wsClient() {
    var key = JSON.stringify(latestHeaders);
    if (socket.key !== key) {
      // New credentials get a connection of their own. The previous client closes its socket
      // itself once its last subscription ends (lazy), so a running one is not cut off.
      socket = {
        key: key,
        client: graphqlWs.createClient({
          url: wsUrl,
          lazy: true,
          connectionParams: JSON.parse(key),
        }),
      };
    }
    return socket.client;
  }

  var fetcher = GraphiQL.createFetcher({
    url: httpUrl,
    wsClient: {
      subscribe: function (payload, sink) {
        return wsClient().subscribe(
          payload,
          Object.assign({}, sink, {
            error: function (error) {
              // A socket that fails to open reports a bare Event, which GraphiQL would show
              // as {"isTrusted": true}; say what failed instead.
              if (error instanceof Event && !(error instanceof CloseEvent)) {
                error = new Error("The websocket to " + wsUrl + " failed (" + error.type + ").");
              }
              sink.error(error);
            },
          })
        );
      },
    },
  });

  // Signed in with a session cookie (POST /auth/session, e.g. through the one-time link `make run`
  // prints), every POST must carry the CSRF token: the value of the script-readable
  // commcredits_csrf cookie, copied into X-CSRF-Token (double submit). Read on each request, so
  // a sign-in in another tab counts without a reload. A key in the Headers tab wins on the server.
  function csrfToken() {
    var prefix = "commcredits_csrf=";
    var found = document.cookie.split("; ").filter(function (c) {
      return c.indexOf(prefix) === 0;
    })[0];
    return found ? decodeURIComponent(found.slice(prefix.length)) : null;
  }

  function fetchWithHeaders(params, options) {
    latestHeaders = (options && options.headers) || {};
    var token = csrfToken();
    if (token) {
      options = Object.assign({}, options, {
        headers: Object.assign({ "X-CSRF-Token": token }, latestHeaders),
      });
    }
    return fetcher(params, options);
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetchWithHeaders,
      defaultQuery: config.query,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    })
  );
})();
