"""Settings read from the environment, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///var/commcredits.db"


@dataclass(frozen=True)
class Settings:
    database_url: str
    max_body_bytes: int
    log_level: str
    webhook_interval: float = 5.0  # seconds between outbox delivery runs in `serve`; 0: off

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("COMMCREDITS_DATABASE_URL", DEFAULT_DATABASE_URL),
            max_body_bytes=int(os.environ.get("COMMCREDITS_MAX_BODY_BYTES", 5 * 1024 * 1024)),
            log_level=os.environ.get("COMMCREDITS_LOG_LEVEL", "INFO"),
            webhook_interval=float(os.environ.get("COMMCREDITS_WEBHOOK_INTERVAL", "5")),
        )
