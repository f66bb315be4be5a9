from __future__ import annotations

import peewee

from commcredits.models.base import BaseModel, UTCDateTimeField


class Tenant(BaseModel):
    name = peewee.CharField(max_length=200, unique=True)
    search_name = peewee.TextField(default="")  # name, normalized for search (0035)
    country = peewee.CharField(max_length=2)
    currency = peewee.CharField(max_length=3)
    agreement_type = peewee.CharField(max_length=8)  # MCA, MOSA, EA
    created_at = UTCDateTimeField()

    class Meta:
        table_name = "tenant"
