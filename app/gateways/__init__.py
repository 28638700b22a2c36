"""Gateways: one per real-time wire protocol.

Each decodes its frames into calls on the core (validating them with
marshmallow) and renders the core's events into its frames. Socket.IO is
the canonical protocol. May import: `app.chat`, `app.auth`,
`app.schemas`, `config`, marshmallow, orjson, apispec, and its protocol's
libraries (python-socketio and python-engineio for Socket.IO). Never storage, Redis or RQ:
what it needs of them comes through the core or a small interface.
"""
