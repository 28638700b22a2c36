"""Routes for operators, without a token: readiness and metrics (see docs/operations.md).

- `GET /ready`: 200 when Postgres, Redis and the queues answer (and, with READY_REQUIRES_PERSISTENCE,
  persistence is not stalled), else 503; the body names each check.
- `GET /metrics`: Prometheus text format; the seeds' JSON queue counts instead with `?format=json` or
  an `Accept` header that prefers `application/json` (seed 002 served its JSON at `/metrics`).
- `GET /api/metrics/queues`: the seeds' JSON, always.

They answer whoever can reach them: expose them on an internal network only (they carry counts, not
user data).
"""

from __future__ import annotations

from aiohttp import web
from marshmallow import Schema, fields, validate

from app.chat.errors import ChatError, Code
from app.ops.metrics import CONTENT_TYPE
from app.ops.node import OPS, Ops
from app.rest.api import Call, Reply, Route

CHECK_DESCRIPTION = "`ok`, or `error: ` and the reason (the exception and the driver's message, or a timeout)."


class ReadySchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ready", "unready"]))
    checks = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={
            "description": "One entry per check: `postgres` (SELECT 1), `redis` (PING), `queues` (the RQ queue keys "
            "are readable), `persistence` (acknowledged messages are reaching Postgres: not waiting with no live "
            "worker, nor longer than PERSISTENCE_STALL_AFTER; reported only, unless READY_REQUIRES_PERSISTENCE), "
            "`node` (not stopping). Each is " + CHECK_DESCRIPTION
        },
    )


class MetricsQuerySchema(Schema):
    format = fields.String(
        load_default=None,
        validate=validate.OneOf(["prometheus", "json"]),
        metadata={"description": "`json` for the seeds' JSON (as `GET /api/metrics/queues`); default Prometheus."},
    )


class QueueJobsSchema(Schema):
    waiting = fields.Integer(required=True, metadata={"description": "Jobs in the queue."})
    active = fields.Integer(required=True, metadata={"description": "Jobs a worker is running."})
    completed = fields.Integer(
        required=True,
        metadata={"description": "RQ's finished registry: 0, since jobs keep no result (their rows are the result)."},
    )
    failed = fields.Integer(required=True, metadata={"description": "Jobs in RQ's failed registry (kept a week)."})


class MemoryUsageSchema(Schema):
    heapUsed = fields.Integer(required=True, metadata={"description": "Resident set size of this process, bytes."})
    heapTotal = fields.Integer(required=True, metadata={"description": "Its peak resident set size, bytes."})
    external = fields.Integer(required=True, metadata={"description": "Always 0 (a Node.js notion)."})
    arrayBuffers = fields.Integer(required=True, metadata={"description": "Always 0 (a Node.js notion)."})


class QueueMetricsSchema(Schema):
    connections = fields.Integer(required=True, metadata={"description": "Socket.IO connections on this node."})
    messageQueueJobs = fields.Nested(QueueJobsSchema, required=True, metadata={"description": "`messages` queue."})
    presenceQueueJobs = fields.Nested(QueueJobsSchema, required=True, metadata={"description": "`presence` queue."})
    notificationQueueJobs = fields.Nested(
        QueueJobsSchema, required=True, metadata={"description": "`notifications` queue (not in the seed)."}
    )
    memoryUsage = fields.Nested(MemoryUsageSchema, required=True)
    uptime = fields.Float(required=True, metadata={"description": "Seconds since this node started."})


async def ready(call: Call) -> Reply:
    ops = call.request.app[OPS]
    verdict = await ops.readiness.check()
    return Reply(verdict.body(), 200 if verdict.ready else 503)


async def metrics(call: Call) -> web.StreamResponse:
    ops = call.request.app[OPS]
    if call.data.get("format") == "json" or (
        call.data.get("format") is None and prefers_json(call.request.headers.get("Accept", ""))
    ):
        return web.json_response(await _seed_json(ops))
    body = await ops.metrics.prometheus()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def queue_metrics(call: Call) -> dict:
    return await _seed_json(call.request.app[OPS])


async def _seed_json(ops: Ops) -> dict:
    try:
        return await ops.metrics.seed_json()
    except Exception as exc:
        raise ChatError(Code.UNAVAILABLE, f"the queues could not be read: {type(exc).__name__}") from exc


def prefers_json(accept: str) -> bool:
    """Whether an Accept header ranks `application/json` above the text formats (ties: the first listed).
    `*/*` alone (curl, fetch) gets Prometheus."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept.split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        if media not in ("application/json", "text/plain", "application/openmetrics-text"):
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, position, media)
    return best is not None and best[2] == "application/json"


ROUTES = [
    Route("GET", "/ready", ready, "Whether this node can serve: Postgres, Redis and the queues reachable "
          "(503 if not); also whether persistence is stalled", "system", response=ReadySchema, alt_status=(503,),
          auth=False),
    Route("GET", "/metrics", metrics, "Prometheus metrics of this node and of the queues (text format 0.0.4); the "
          "seeds' JSON with ?format=json or Accept: application/json", "system", query=MetricsQuerySchema,
          response=QueueMetricsSchema, produces=CONTENT_TYPE, errors=(Code.INVALID_PAYLOAD, Code.UNAVAILABLE),
          auth=False),
    Route("GET", "/api/metrics/queues", queue_metrics, "The seeds' JSON metrics: connections and job counts per queue",
          "system", response=QueueMetricsSchema, errors=(Code.UNAVAILABLE,), auth=False),
]  # fmt: skip
