"""RQ workers: job functions (one module per job kind) and the worker process.

May import: `app.chat`, `app.storage`, `app.state`, `app.jobs`, `app.files`,
`config`, rq, redis, peewee. Never HTTP or Socket.IO. Jobs take plain JSON
arguments and find their connections in `worker.runtime`, opened once per
process.
"""
