"""The chat domain: entities, rules, events, errors with stable codes, and the
services that turn an actor's command into stored state and announced events.

May import: the standard library and `app.chat` only. It knows nothing of
sockets, HTTP, SQL, Redis or RQ; it reaches them through `app.chat.ports`.
"""
