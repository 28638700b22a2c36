"""The session layer: what a real-time connection is, whatever its wire protocol.

Authentication at connect and its refusals, the user's devices and presence, the rooms a session
follows, join fences and catch-up, the per-session limits, one table of operations for every dialect,
delivery of core events encoded once per dialect, and a bounded send queue per connection with the
slow-consumer cut. Gateways (app.gateways) bind a wire protocol to it: they decode frames into
operations and encode results and events into frames. See docs/architecture.md ("The session layer").

May import: the standard library, `app.chat`, `app.auth`, `app.schemas`, `app.ops.context`, marshmallow.
Never a protocol library, storage, Redis or RQ.
"""
