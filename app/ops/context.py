"""What a log line is about: the request, Socket.IO connection or RQ job being handled.

Context variables, so every line logged while handling one carries its id, whatever the
module that logs it (a logging filter reads them; see `app.ops.logs`). Standard library only:
the gateway, the REST adapter and the worker set them.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
CONNECTION_ID: ContextVar[str | None] = ContextVar("connection_id", default=None)
JOB_ID: ContextVar[str | None] = ContextVar("job_id", default=None)

# An id a client or proxy gives in X-Request-Id is kept only if it cannot forge or break a log line.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")


def request_id(given: str | None) -> str:
    """`given` when it is a sane id (1-128 characters of letters, digits and `._:@/+=-`), else a fresh one."""
    if given and _SANE_REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex
