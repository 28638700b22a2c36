"""Schemathesis against the OpenAPI document the app serves: every operation, every check, with a token.

Each operation is called with cases drawn from the document (valid ones and invalid ones, Schemathesis's
examples, coverage and fuzzing phases) against the real app on the real Postgres and Redis, bounded (a few dozen
cases per operation, derandomized: the same cases every run) so the tier runs in about a minute on 2 cores. The
invariants: no 5xx, every answer as the document says (status, content type, headers, body), valid input accepted
and invalid input refused, and nothing logged at ERROR (a client's bad input is answered with a 4xx, and logged,
if at all, as a WARNING without a traceback).

Where a 4xx for schema-valid input depends on state the document cannot state (an id that exists, a cursor a
previous answer gave), `STATE_DEPENDENT` lists it, with the reason, and only such an answer is let through.
"""

from __future__ import annotations

import os
import unicodedata
from urllib.parse import unquote

import emoji
import requests
import schemathesis
from hypothesis import HealthCheck, assume, seed, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    unsupported_method,
)

from app.rest import routes
from app.rest.openapi import build_openapi
from app.web import VERSION
from tests.fuzz.conftest import LiveServer

# Cases per operation and phase: 25 runs the whole document in under a minute on 2 cores. FUZZ_REST_EXAMPLES
# asks for more (a deeper run by hand); FUZZ_REST_SEED for other cases than CI's (derandomized: always the same).
MAX_EXAMPLES = int(os.environ.get("FUZZ_REST_EXAMPLES", "25"))
SEED = os.environ.get("FUZZ_REST_SEED")

DOCUMENT = build_openapi(routes.ROUTES, VERSION)
schema = schemathesis.openapi.from_dict(DOCUMENT)

# `format: emoji` (the document's, for one emoji): drawn from Unicode's emoji data, as the server checks it.
schemathesis.openapi.format("emoji", st.sampled_from(sorted(emoji.EMOJI_DATA)))

# (method, path template, status, stable code) -> why schema-valid input may get it: state, not shape.
STATE_DEPENDENT: dict[tuple[str, str, int, str], str] = {
    ("GET", "/api/v1/search", 400, "invalid_payload"): "a `cursor` is valid only as a previous page of the same "
    "search gave it (signed with the query); any other string is refused",
    ("POST", "/api/v1/rooms/{room_id}/messages", 400, "reply_not_found"): "`reply_to` must name a message of the "
    "room, which depends on what was sent",
}


# (method, path template) -> {check: why it does not apply to the operation}.
NOT_APPLICABLE: dict[tuple[str, str], dict[object, str]] = {
    ("POST", "/api/v1/rooms/direct"): {
        check: "`GET /api/v1/rooms/direct` is `GET /api/v1/rooms/{room_id}` with the room id `direct` (answered "
        "404 `room_not_found`, as every room id that is not one), so GET is not an undeclared method there, and a "
        "405 rightly allows it"
        for check in (allow_header_conformance, unsupported_method)
    },
    **{
        ("POST", path): {
            negative_data_rejection: "the upload takes the first part under an accepted name and drops the others, "
            "which a JSON Schema of the form's fields (unordered properties) cannot state: a second, empty file "
            "part is 'invalid' to it but harmless"
        }
        for path in ("/api/v1/attachments", "/api/rooms/upload")
    },
}


def test_the_document_fuzzed_is_the_one_served(live_server: LiveServer):
    served = requests.get(live_server.base_url + "/api/v1/openapi.json", timeout=10).json()
    assert served == DOCUMENT


def _unassigned(value: object) -> bool:
    """Whether a code point Unicode has not assigned, or one for private use, is anywhere in `value`."""
    if isinstance(value, str):  # path parameters are kept percent-encoded
        return any(unicodedata.category(char) in ("Cn", "Co") for char in value + unquote(value))
    if isinstance(value, dict):
        return any(_unassigned(key) or _unassigned(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(_unassigned(item) for item in value)
    return False


def _stable_code(response) -> str | None:
    if "X-Error-Code" in response.headers:
        return response.headers["X-Error-Code"]
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


@schema.parametrize()
@seed(int(SEED)) if SEED else (lambda test: test)
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=SEED is None,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation(case, live_server: LiveServer):
    if case.meta is not None and case.meta.generation.mode.is_positive:
        # "Printable" (ids, client_ref) also leaves out unassigned and private-use code points, which the document
        # says in words: its patterns leave out the rest, but not these hundreds of ranges (see app.schemas.fields).
        assume(not _unassigned([case.path_parameters, case.query, case.body]))
    response = case.call(base_url=live_server.base_url, headers=live_server.auth, timeout=30)
    errors = live_server.errors.take()
    assert not errors, f"{case.method} {case.formatted_path} logged at ERROR:\n" + "\n".join(errors)
    operation = (case.operation.method.upper(), case.operation.path)
    excluded = list(NOT_APPLICABLE.get(operation, {}))
    if (*operation, response.status_code, _stable_code(response)) in STATE_DEPENDENT:
        excluded.append(positive_data_acceptance)
    case.validate_response(response, headers=live_server.auth, excluded_checks=excluded)
