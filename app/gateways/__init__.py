"""Gateways: one binding per real-time wire protocol, on the session layer (app.realtime).

Each only translates: it decodes its frames into the session layer's operations (validated there with
marshmallow) and encodes results and the core's events into its frames. `socketio` is the canonical
protocol; `websocket` holds the raw JSON WebSocket dialects of the seed services. May import:
`app.chat`, `app.realtime`, `app.auth`, `app.schemas`, `config`, marshmallow, orjson, apispec, and its
protocol's libraries (python-socketio and python-engineio, aiohttp). Never storage, Redis or RQ: what
it needs of them comes through the session layer or the core.
"""
