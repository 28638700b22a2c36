"""Redis adapters: the message log (sequence numbers, outbox, idempotency),
rate limits, and the pub/sub bus that fans events out across nodes.

May import: `app.chat`, redis, orjson. Never Postgres, HTTP, Socket.IO or
RQ. `keys` and `outbox` are shared with the workers.
"""
