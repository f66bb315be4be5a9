"""The Starlette app: GraphQL (GraphiQL on GET) at /graphql, health probes, browser sign-in.

The pieces live in their own modules; this one puts them together in order:
- `request_context`: every response carries `x-request-id` (the client's, if it sent a
  well-formed one) and every request writes one structured log line (`commcredits.logs`);
- `graphql_http`: POST /graphql — body limits and screening (`request_screen`), the caller
  (`credentials`, `web_auth`'s session cookie), errors in one format (`http_errors`);
- `websocket`: subscriptions (and queries, mutations) at ws(s)://…/graphql;
- `background`: /healthz, /readyz, and the webhook and payment loops of the lifespan;
- `metrics_http`: /metrics (Prometheus, operator key); `metrics` counts, per request by
  `request_context`.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from commcredits import background, console, metrics_http, web_auth
from commcredits import db as database
from commcredits.clock import Clock, utcnow
from commcredits.config import Settings
from commcredits.cors import cors_middleware
from commcredits.graphiql import graphiql_page
from commcredits.graphql_http import graphql_endpoint
from commcredits.http_errors import method_not_allowed
from commcredits.request_context import RequestContext
from commcredits.services import jwt_auth
from commcredits.services.auth_failures import AuthLimits
from commcredits.websocket import graphql_websocket


def create_app(
    *,
    settings: Settings | None = None,
    clock: Clock = utcnow,
    bind_database: bool = True,
    auth_limits: AuthLimits | None = None,
) -> Starlette:
    """The ASGI app. `clock` gives every request its `now` (tests pass a fixed one)."""
    settings = settings or Settings.from_env()
    auth_limits = auth_limits or AuthLimits.from_env()
    # One verifier per app: it holds the identity provider's cached signing keys.
    verifier = jwt_auth.JwtVerifier(settings.jwt) if settings.jwt else None
    if bind_database:
        database.bind(settings.database_url)
    graphiql = graphiql_page()
    graphql = graphql_endpoint(
        settings=settings,
        clock=clock,
        verifier=verifier,
        auth_limits=auth_limits,
        graphiql=graphiql,
    )

    return Starlette(
        lifespan=background.lifespan(settings, clock),
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            # graphql-transport-ws: subscriptions (and queries, mutations) over a websocket.
            WebSocketRoute(
                "/graphql",
                graphql_websocket(
                    settings=settings, clock=clock, verifier=verifier, auth_limits=auth_limits
                ),
            ),
            Route("/healthz", background.healthz, methods=["GET"]),
            Route("/readyz", background.readyz, methods=["GET"]),
            # Prometheus, for an operator key (README "Metrics").
            Route(
                "/metrics",
                metrics_http.metrics_endpoint(
                    clock=clock, verifier=verifier, auth_limits=auth_limits
                ),
                methods=["GET"],
            ),
            *graphiql.routes(),
            *web_auth.routes(settings, clock, auth_limits),
            *console.routes(),  # the admin console at / (README "Admin console")
        ],
        # RequestContext outermost: preflights get a request id and a log line too.
        middleware=[Middleware(RequestContext), *cors_middleware(settings.cors_origins)],
        exception_handlers={405: method_not_allowed},
    )
