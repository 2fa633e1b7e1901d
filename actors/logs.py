"""Structured logs: one JSON object per line for every `csms.*` logger, set up in one place.

Fields given with `extra=` (station_id, message_id, connection_id, host, ...) become keys of
the object, so a line about a station can be found by its id in any node's Ray logs
(`/tmp/ray/session_latest/logs/worker-*.err`, or the dashboard's log view). Every actor and
Serve replica calls `configure()` in its constructor; the CLI calls it for the driver.

No secrets: passwords, tokens and AuthorizationKey values are never passed to a logger (the
callers log ids and codes only); as a second line of defence the keys in `_SECRET_KEYS` are
masked if they ever appear in `extra`.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys

ROOT_LOGGER = "csms"

# Attributes every LogRecord has; everything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
_SECRET_KEYS = frozenset({"password", "token", "authorization", "api_tokens", "password_hash"})


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...extra, "exc"?}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = "***" if key.lower() in _SECRET_KEYS else value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str | int | None = None) -> None:
    """Route the `csms` loggers to stderr as JSON lines; idempotent (once per process)."""
    logger = logging.getLogger(ROOT_LOGGER)
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    # The process's real stderr (Ray writes it to logs/worker-*.err), not whatever sys.stderr
    # is now: in a Serve replica with RAY_SERVE_THROUGHPUT_OPTIMIZED, Serve replaces it with a
    # stream into its own logger, which buffers 1,000 records in memory before writing
    # logs/serve/replica_*.log (and loses them when the process dies).
    handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level or os.environ.get("CSMS_LOG_LEVEL", "INFO"))
    # Ray's and Serve's own handlers on the root logger would print each line a second time.
    logger.propagate = False
