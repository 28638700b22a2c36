"""Storage: Peewee models, migrations and queries on Postgres.

May import: `app.chat` (entities), peewee, psycopg2. Never HTTP, Socket.IO,
Redis or RQ. Shared by the web process (reads, room changes; through the
thread pool of `AsyncDatabase`) and the workers (batched writes).
"""
