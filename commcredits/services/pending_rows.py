"""New rows held in memory until `PendingRows.insert` writes them with one INSERT per table
(a thousand rows a statement). Group licensing makes its rows this way: a batch of a thousand
members makes a thousand states and rows, and a round trip each cost more than the rest.
"""

from __future__ import annotations

from typing import TypeVar

import peewee

INSERT_BATCH = 1000
M = TypeVar("M", bound=peewee.Model)


class PendingRows:
    """New model instances, not in the database until `insert`; saving or deleting one of them
    before then only changes (or drops) what will be inserted."""

    def __init__(self) -> None:
        self._rows: dict[int, peewee.Model] = {}  # id(row) -> new row

    def new(self, model: type[M], **values: object) -> M:
        obj = model(**values)
        self._rows[id(obj)] = obj
        return obj

    def save(self, obj: peewee.Model) -> None:
        if id(obj) not in self._rows:
            obj.save()

    def delete(self, obj: peewee.Model) -> None:
        if self._rows.pop(id(obj), None) is None:
            obj.delete_instance()

    def of(self, model: type[M]) -> list[M]:
        """The new rows of that model, not inserted yet."""
        return [obj for obj in self._rows.values() if isinstance(obj, model)]

    def insert(self) -> None:
        by_model: dict[type[peewee.Model], list[dict]] = {}
        for obj in self._rows.values():
            by_model.setdefault(type(obj), []).append(
                # Raw values: a foreign key's attribute would fetch the row it names.
                {
                    f.name: obj.__data__.get(f.name)
                    for f in obj._meta.sorted_fields
                    if f.name != "id"
                }
            )
        self._rows = {}
        for model, rows in by_model.items():
            for start in range(0, len(rows), INSERT_BATCH):
                model.insert_many(rows[start : start + INSERT_BATCH]).execute()
