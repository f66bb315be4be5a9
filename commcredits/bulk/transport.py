"""Where the bulk layer's GraphQL operations go: a server over HTTP, or this process.

Both transports take the same operation text and variables and hand back the same `data`, so
the commands never know which one they use. In-process, the operation runs through
`commcredits.execution.execute` (the path HTTP requests take inside the server) against the
local database, acting as the principal of an API key, or — with `-Tenant NAME` — as a local
administrator with the GLOBAL_ADMIN role of that tenant (whoever can open the database file
could change it anyway).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from commcredits.bulk.errors import UsageError


class Transport(Protocol):
    description: str

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The operation's `data`; raises UsageError for a refused request or top-level error."""
        ...

    def close(self) -> None: ...


class NoAnswer(UsageError):
    """The request may have reached the server, but no answer came back (a refused connection,
    a timeout, a connection lost): whether a change it carried was applied is not known."""


def _raise_errors(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors")
    if errors:
        first = errors[0]
        code = (first.get("extensions") or {}).get("code")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        prefix = f"{code}: " if code else ""
        raise UsageError(f"the server refused the operation: {prefix}{first.get('message')}{more}")
    data = body.get("data")
    if data is None:
        raise UsageError("the server answered without data")
    return data


class HttpTransport:
    """GraphQL over HTTP to a running server, with a bearer API key."""

    def __init__(self, endpoint: str, api_key: str | None, *, timeout: float = 300.0):
        url = endpoint.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"-Endpoint {endpoint!r} is not an http:// or https:// URL")
        if not url.endswith("/graphql"):
            url += "/graphql"
        if not api_key:
            raise UsageError("-Endpoint needs -ApiKey KEY (or COMMCREDITS_API_KEY)")
        self.url = url
        self.description = url
        self._client = httpx.Client(
            timeout=timeout, headers={"Authorization": f"Bearer {api_key.strip()}"}
        )

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self._client.post(self.url, json={"query": query, "variables": variables})
        except httpx.HTTPError as error:
            raise NoAnswer(f"cannot reach {self.url}: {error or type(error).__name__}") from None
        if response.status_code == 401:
            raise UsageError(f"{self.url} refused the API key (401): invalid or revoked")
        if response.status_code in _GATEWAY_ANSWERS:
            # A proxy or load balancer answered instead of the server: the request may have
            # reached it and been applied (the rows are Unknown, not NotSent).
            raise NoAnswer(f"{self.url} answered HTTP {response.status_code} (a proxy or gateway)")
        try:
            body = response.json()
        except ValueError:
            if response.status_code >= 500:
                raise NoAnswer(
                    f"{self.url} answered HTTP {response.status_code} without JSON"
                ) from None
            raise UsageError(
                f"{self.url} answered HTTP {response.status_code} without JSON; is it a "
                f"commcredits server?"
            ) from None
        if response.status_code != 200 and not body.get("errors"):
            raise UsageError(f"{self.url} answered HTTP {response.status_code}")
        return _raise_errors(body)

    def close(self) -> None:
        self._client.close()


# Answers a gateway gives when the server behind it did not answer in time or at all.
_GATEWAY_ANSWERS = frozenset({502, 503, 504})


class LocalTransport:
    """The same operations executed in this process against the bound database."""

    def __init__(self, principal: Any, *, clock: Callable[[], Any] | None = None):
        from commcredits.clock import utcnow
        from commcredits.schema import root  # noqa: F401 - built now, before a run freezes it

        self.principal = principal
        self.clock = clock or utcnow
        tenant = principal.tenant.name if principal.tenant is not None else "no tenant"
        self.description = f"local database ({tenant}, {principal.role.value})"

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        from commcredits import db
        from commcredits.execution import execute

        with db.db.connection_context():
            body = execute(query, variables, principal=self.principal, now=self.clock())
        return _raise_errors(body)

    def close(self) -> None:
        pass


def connect(
    *,
    endpoint: str | None = None,
    api_key: str | None = None,
    tenant: str | None = None,
    database_url: str | None = None,
    clock: Callable[[], Any] | None = None,
) -> Transport:
    """A transport from explicit values, else COMMCREDITS_ENDPOINT / _API_KEY / _TENANT.

    With an endpoint: HTTP. Without one: in-process against `database_url` (default
    COMMCREDITS_DATABASE_URL, or the database already bound in this process).
    """
    endpoint = endpoint or os.environ.get("COMMCREDITS_ENDPOINT") or None
    api_key = api_key or os.environ.get("COMMCREDITS_API_KEY") or None
    if endpoint:
        return HttpTransport(endpoint, api_key)
    tenant = tenant or os.environ.get("COMMCREDITS_TENANT") or None
    return LocalTransport(_local_principal(api_key, tenant, database_url), clock=clock)


def _local_principal(api_key: str | None, tenant: str | None, database_url: str | None) -> Any:
    import peewee

    from commcredits import db
    from commcredits.clock import utcnow
    from commcredits.config import Settings
    from commcredits.services.access import (
        AuthenticationError,
        Principal,
        Role,
        authenticate,
    )
    from commcredits.services.errors import DomainError
    from commcredits.services.tenants import find_tenant

    if not api_key and not tenant:
        raise UsageError(
            "say who acts: -Tenant NAME (local administrator of that tenant) or -ApiKey KEY "
            "for the local database, or -Endpoint URL -ApiKey KEY for a server"
        )
    url = database_url or (None if db.db.obj is not None else Settings.from_env().database_url)
    try:
        if url is not None:
            db.bind(url, migrated=True)
        with db.db.connection_context():
            if api_key:
                return authenticate(api_key, now=utcnow())
            found = find_tenant(tenant)
            return Principal(key_id=None, role=Role.GLOBAL_ADMIN, tenant=found, key_prefix="")
    except AuthenticationError:
        raise UsageError("the API key is invalid or revoked") from None
    except DomainError:
        raise UsageError(f"no tenant named {tenant!r} in the local database") from None
    except (peewee.PeeweeException, ValueError) as error:
        raise UsageError(f"cannot use the local database: {str(error).splitlines()[0]}") from None
