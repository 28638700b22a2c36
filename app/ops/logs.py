"""Logging of every process: readable text lines, or JSON lines (LOG_FORMAT=json), on stderr.

A JSON line is one object: `time` (ISO 8601 UTC, milliseconds), `level`, `logger`, `message`, `pid`,
and whichever of `request_id`, `connection_id` and `job_id` was set while the line was logged (see
`app.ops.context`), plus `exception` (the traceback) when there is one. Nothing else of a record is
written: a library's `extra` fields (RQ puts a failed job's arguments there) never reach the output.

Both formats pass through `redact`, which blanks anything shaped like a bearer token (a JWT, an
`Authorization: Bearer` value, a `token=` parameter): a defence in depth, since no log call of this
code writes a token or a message's content. Peewee's query log (DEBUG) is kept off because it quotes
query parameters, which are message contents.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from app.ops.context import CONNECTION_ID, JOB_ID, REQUEST_ID

CONTEXT_FIELDS = ("request_id", "connection_id", "job_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d]%(context)s %(message)s"

# A JWT (three base64url parts, the first starting like every JSON header: `eyJ`), a bearer
# credential, and a token passed as a URL or form parameter.
_SECRETS = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|(?i:(?<![A-Za-z0-9_])(?:access_)?token=)[^&\s'\"]+"
)
REDACTED = "[redacted]"
# Loggers that would write what must not be logged, and the lowest level they may log at.
QUIET_LOGGERS = {"peewee": logging.INFO}


def redact(text: str) -> str:
    return _SECRETS.sub(REDACTED, text)


class ContextFilter(logging.Filter):
    """Puts the ids of what is being handled on each record (None when unset)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.connection_id = CONNECTION_ID.get()
        record.job_id = JOB_ID.get()
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        ids = [f"{name}={value}" for name in CONTEXT_FIELDS if (value := getattr(record, name, None))]
        record.context = (" " + " ".join(ids)) if ids else ""
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "pid": record.process,
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value:
                line[name] = value
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def handler(fmt: str, stream=None) -> logging.Handler:
    """A stream handler (stderr by default) writing `fmt` (`json`, else text), with the ids of the context."""
    out = logging.StreamHandler(sys.stderr if stream is None else stream)
    out.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    out.addFilter(ContextFilter())
    return out


def configure(level: str, fmt: str = "text") -> None:
    """Root logging for a process: one handler on stderr, LOG_LEVEL, LOG_FORMAT. Replaces earlier handlers."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(fmt))
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # warnings become records too, so a JSON log stays all JSON
    for name, lowest in QUIET_LOGGERS.items():
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < lowest:
            logger.setLevel(lowest)
