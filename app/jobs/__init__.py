"""Handing work to the RQ workers.

Jobs are enqueued by dotted name (`names`), so the web process never
imports `worker`; payloads are plain JSON. May import: `app.chat`,
`app.state.keys`, rq, redis.
"""
