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
    # The payment sweeper in `serve`: every interval (0: off) it finishes invoices PENDING for
    # at least `payment_sweep_age` seconds (a request normally settles its own within seconds).
    payment_sweep_interval: float = 60.0
    payment_sweep_age: float = 60.0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("COMMCREDITS_DATABASE_URL", DEFAULT_DATABASE_URL),
            max_body_bytes=int(os.environ.get("COMMCREDITS_MAX_BODY_BYTES", 5 * 1024 * 1024)),
            log_level=os.environ.get("COMMCREDITS_LOG_LEVEL", "INFO"),
            webhook_interval=float(os.environ.get("COMMCREDITS_WEBHOOK_INTERVAL", "5")),
            payment_sweep_interval=float(
                os.environ.get("COMMCREDITS_PAYMENT_SWEEP_INTERVAL", "60")
            ),
            payment_sweep_age=float(os.environ.get("COMMCREDITS_PAYMENT_SWEEP_AGE", "60")),
        )
