"""Throwaway PostgreSQL databases on the test server (COMMCREDITS_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse, urlunparse

import peewee

from commcredits import db as database


@contextmanager
def throwaway_database(server_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new, empty database on `server_url`'s server, dropped afterwards — also
    when the body fails (a failed migration must not leave databases behind)."""
    parsed = urlparse(server_url)
    # Per process (per pytest-xdist worker too) and per use: parallel runs never meet.
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = peewee.PostgresqlDatabase(
        parsed.path.lstrip("/") or "postgres",
        user=parsed.username,
        password=parsed.password,
        host=parsed.hostname,
        port=parsed.port or 5432,
        autoconnect=True,
    )
    admin.execute_sql(f'CREATE DATABASE "{name}"')
    try:
        yield urlunparse(parsed._replace(path="/" + name))
    finally:
        database.close()
        admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
