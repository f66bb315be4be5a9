"""Base model and the field types every table uses."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import peewee

from commcredits.db import db


class UTCDateTimeField(peewee.DateTimeField):
    """Stores naive UTC, hands out aware UTC: the same on SQLite and PostgreSQL."""

    def db_value(self, value: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value: Any) -> Any:
        value = super().python_value(value)
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                return value.replace(tzinfo=dt.UTC)
            return value.astimezone(dt.UTC)
        return value


# One encoder for every value: json.dumps with options builds a new one per call, which cost
# more than encoding a user's one-item list of mails (an import writes one per row).
_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


class JSONField(peewee.TextField):
    """JSON kept as text so one column type works on both databases."""

    def db_value(self, value: Any) -> Any:
        return None if value is None else _ENCODER.encode(value)

    def python_value(self, value: Any) -> Any:
        return None if value is None else json.loads(value)


class BaseModel(peewee.Model):
    class Meta:
        database = db
        legacy_table_names = False
