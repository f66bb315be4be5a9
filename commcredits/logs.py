"""Structured logs: one JSON object per line on stderr, one `request` line per HTTP request.

`configure` is called by `commcredits serve` (and by anyone embedding the app who wants the
same format); uvicorn's own loggers are routed through it, and its access log is replaced by
the request line that `commcredits.app` writes with the request id, tenant, operation name,
duration and status.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import os
from typing import Any

# Attributes every LogRecord has; anything else was passed in `extra=` and goes into the line.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

REQUEST_LOGGER = "commcredits.request"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": os.getpid(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` dict: JSON lines on stderr, uvicorn's access log off.

    uvicorn applies it in every worker process (`log_config=`), which spawned workers need:
    they do not inherit the parent's handlers.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "commcredits.logs.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # The request line below replaces uvicorn's access log.
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        },
    }


def configure(level: str = "INFO") -> None:
    """Apply `logging_config` to this process."""
    logging.config.dictConfig(logging_config(level))


def request_line(**fields: Any) -> None:
    """The one line per request (fields: request_id, method, path, status, duration_ms, …)."""
    status = fields.get("status") or 0
    # 503 is a probe saying "not ready", an answer rather than a failure.
    level = logging.ERROR if status >= 500 and status != 503 else logging.INFO
    logging.getLogger(REQUEST_LOGGER).log(level, "request", extra=fields)
