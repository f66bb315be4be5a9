"""The per-row report every changing command returns: Row, Key, Action, Status, Code, Message,
and how the server's results read as report statuses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from commcredits.bulk.errors import UsageError
from commcredits.bulk.sheets import REPORT_COLUMNS
from commcredits.bulk.transport import NoAnswer


@dataclass
class Report:
    """Per-row results, collected in any order and sorted by row at the end.

    Rows that share an outcome (a run of a batch's results) are kept as one run, and their
    repeated columns are filled in by polars when the frame is built. A command may add
    columns of its own after the common ones (`extra_columns`, filled by `add`).
    """

    what_if: bool = False
    blank_rows: int = 0
    extra_columns: tuple[str, ...] = ()
    rows: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    # (action, status, code, message) -> the rows and keys of every run with that outcome
    runs: dict[tuple[str, str, str, str], tuple[list[int], list[str]]] = field(default_factory=dict)
    extras: list[tuple[str | None, ...]] = field(default_factory=list)  # per `add`, in order
    # Sentences for the summary line about the run as a whole (e.g. Import-Users' users
    # created without a usage location), after the counts.
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        row: int,
        key: str,
        action: str,
        status: str,
        code: str = "",
        message: str = "",
        extra: tuple[str | None, ...] = (),
    ) -> None:
        self.rows.append(row)
        self.keys.append(key)
        self.actions.append(action)
        self.statuses.append(status)
        self.codes.append(code)
        self.messages.append(message)
        if self.extra_columns:
            self.extras.append(extra + (None,) * (len(self.extra_columns) - len(extra)))

    def add_many(
        self,
        rows: list[int],
        keys: list[str],
        action: str,
        status: str,
        code: str = "",
        message: str = "",
    ) -> None:
        """Rows that share one outcome."""
        kept = self.runs.setdefault((action, status, code, message), ([], []))
        kept[0].extend(rows)
        kept[1].extend(keys)

    def fail(
        self,
        row: int,
        key: str,
        action: str,
        code: str,
        message: str,
        extra: tuple[str | None, ...] = (),
    ) -> None:
        self.add(row, key, action, status("Failed", self.what_if), code, message, extra)

    def frame(self) -> pl.DataFrame:
        schema = {c: (pl.Int64 if c == "Row" else pl.String) for c in REPORT_COLUMNS}
        single = {
            "Row": self.rows,
            "Key": self.keys,
            "Action": self.actions,
            "Status": self.statuses,
            "Code": self.codes,
            "Message": self.messages,
        }
        for n, name in enumerate(self.extra_columns):
            single[name] = [extra[n] for extra in self.extras]
            schema[name] = pl.String
        parts = [pl.DataFrame(single, schema=schema)]
        for shared, (rows, keys) in self.runs.items():
            part = pl.DataFrame(
                {"Row": rows, "Key": keys}, schema={"Row": pl.Int64, "Key": pl.String}
            )
            constant = [
                *zip(("Action", "Status", "Code", "Message"), shared, strict=True),
                *((name, None) for name in self.extra_columns),
            ]
            parts.append(part.with_columns(pl.lit(v, pl.String).alias(c) for c, v in constant))
        frame = pl.concat(parts)
        # Empty cells as nulls: a CSV report shows nothing rather than "".
        empty = [pl.col(c).replace("", None) for c in ("Key", "Code", "Message")]
        return frame.with_columns(empty).sort("Row")


_WOULD = {
    "Assigned": "WouldAssign",
    "Removed": "WouldRemove",
    "Updated": "WouldUpdate",
    "Created": "WouldCreate",
    "Purchased": "WouldPurchase",
    "Failed": "WouldFail",
    "Unchanged": "Unchanged",
}


def status(name: str, what_if: bool) -> str:
    """A report status; its `Would…` form for a -WhatIf run."""
    return _WOULD[name] if what_if else name


def batch_error(payload: dict[str, Any]) -> None:
    """A batch refused as a whole stops the command (exit 2): no row's outcome is known."""
    errors = payload.get("userErrors") or []
    if errors:
        first = errors[0]
        raise UsageError(f"the server refused the batch: {first['code']}: {first['message']}")


def row_errors(result: dict[str, Any]) -> tuple[str, str]:
    """(codes, messages) of one result's userErrors, for the report's Code and Message."""
    errors = result.get("userErrors") or []
    codes = list(dict.fromkeys(e["code"] for e in errors))
    return "; ".join(codes), " | ".join(e["message"] for e in errors)


class RunStopped(UsageError):
    """A run that stopped after some rows were sent (a refused batch, a lost server, Ctrl-C):
    the reason and the report of every row, the unsent ones marked `NotSent`, so that what was
    done is never lost with the run."""

    def __init__(self, reason: str, report: Report, *, interrupted: bool = False):
        super().__init__(reason)
        self.report = report
        self.interrupted = interrupted


@dataclass
class Sent:
    """A command's progress through its rows to send, in sending order: how many are done
    (sent and reported), and how many the request in flight carries."""

    done: int = 0
    sending: int = 0

    def batch(self, size: int) -> None:
        """A request of `size` rows is about to go."""
        self.sending = size

    def answered(self) -> None:
        """The request in flight was answered and its rows reported."""
        self.done += self.sending
        self.sending = 0


Outcome = tuple[str, str, str]  # (status, code, message)


@contextmanager
def keeping_report(
    report: Report, unsent: Callable[[int, int | None, Outcome], None]
) -> Iterator[Sent]:
    """Around a command's batches: if one fails after others were sent, the rows not done are
    reported through `unsent(start, stop, outcome)` — those of a request that got no answer
    (it may have been applied) as `Unknown`, the rest as `NotSent` — and RunStopped carries
    the report out. A run refused before anything was done stops as before (nothing to
    keep); one whose first request got no answer keeps its report, that request `Unknown`."""
    sent = Sent()
    try:
        yield sent
    except (UsageError, KeyboardInterrupt) as error:
        if isinstance(error, RunStopped):
            raise
        interrupted = isinstance(error, KeyboardInterrupt)
        # A refusal is an answer (nothing of that request was applied); a lost connection or
        # Ctrl-C while it ran leaves its outcome unknown, the first request's too: the report
        # must say so (the server may have applied it).
        unknown = bool(sent.sending) and (interrupted or isinstance(error, NoAnswer))
        if not sent.done and not unknown:
            raise
        reason = "interrupted" if interrupted else str(error)
        start = sent.done
        if unknown:
            unsent(start, start + sent.sending, _no_answer(reason))
            start += sent.sending
        unsent(start, None, ("NotSent", "RunStopped", f"Not sent: the run stopped ({reason})."))
        raise RunStopped(reason, report, interrupted=interrupted) from None


def _no_answer(reason: str) -> Outcome:
    return (
        "Unknown",
        "NoAnswer",
        f"Sent, but no answer came back ({reason}): the server may have applied this row. "
        f"Run the sheet again to know (an applied row comes back Unchanged).",
    )
