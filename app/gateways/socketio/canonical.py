"""The canonical Socket.IO protocol, on namespace `/`.

Connect with `auth: {token}` (a `Bearer ` prefix is accepted; `?token=` in the URL too). Every client
event is an operation of the session layer under the same name, answered through its acknowledgement,
`{ok: true, data}` or `{ok: false, error: {code, message, details}}`; a client that asked for no
acknowledgement gets an `error` event instead. After connecting: `session:ready`, then any pending
notifications as one `notification:pending`, marked delivered when the client acknowledges it. The
core's events are sent under their own names (contract.SERVER_EVENTS).
"""

from __future__ import annotations

import logging

from engineio import packet as eio_packet

from app.chat import events
from app.chat.errors import ChatError
from app.chat.events import Event
from app.gateways.socketio.contract import CLIENT_EVENTS, SERVER_EVENTS, SERVER_SHUTDOWN
from app.gateways.socketio.engine import ACK_WANTED
from app.gateways.socketio.namespace import Namespace, SioDialect, given
from app.realtime.hub import internal
from app.realtime.session import Credentials, Session
from app.realtime.topics import error_record

log = logging.getLogger(__name__)


class CanonicalDialect(SioDialect):
    name = "socketio"
    namespace = "/"
    client_events = tuple(CLIENT_EVENTS)
    operations = CLIENT_EVENTS
    frames = SERVER_EVENTS

    def credentials(self, environ: dict, auth: object) -> Credentials:
        claimed = auth.get("user_id", auth.get("userId")) if isinstance(auth, dict) else None
        return Credentials(
            token=given(environ, auth, "token"),
            user_id=None if claimed is None else str(claimed),
            device_id=given(environ, auth, "device_unique_id"),
            preferred_language=given(environ, auth, "preferred_language"),
        )

    async def opened(self, binding: Namespace, session: Session) -> None:
        overview, errors = await binding.hub.overview(session)
        for error in errors:
            await binding.emit(session, "error", {**error_record(error), "event": "session:ready"})
        await binding.emit(session, "session:ready", overview)
        await self._send_pending(binding, session)

    async def _send_pending(self, binding: Namespace, session: Session) -> None:
        """Pending notifications, if any, as one list; they are marked delivered when the client
        acknowledges the event (or later with `notifications:ack`, or over REST)."""
        try:
            found, total = await binding.hub.pending(session)
        except Exception as exc:
            if not isinstance(exc, ChatError):
                log.exception("reading pending notifications failed")
            notice = {**error_record(internal(exc)), "event": events.NOTIFICATION_PENDING}
            await binding.emit(session, "error", notice)
            return
        if not found:
            return
        data = {"notifications": [n.record() for n in found], "total": total}
        ids = [n.id for n in found if n.id is not None]

        async def received(*_answer: object) -> None:
            await binding.hub.acknowledge(session, ids)

        await binding.emit(session, events.NOTIFICATION_PENDING, data, callback=received if ids else None)

    async def handle(self, binding: Namespace, session: Session, event: str, args: list) -> dict | None:
        raw = args[0] if len(args) == 1 else (args or None)
        spec = CLIENT_EVENTS.get(event)
        if raw is None and spec is not None and spec.optional_payload:
            raw = {}
        try:
            return {"ok": True, "data": await binding.hub.perform(session, event, raw)}
        except ChatError as exc:
            return await self._refuse(binding, session, event, exc, raw)

    async def refuse(
        self, binding: Namespace, session: Session, event: str | None, error: ChatError, args: list
    ) -> dict | None:
        return await self._refuse(binding, session, event, error, args[0] if len(args) == 1 else None)

    async def _refuse(self, binding: Namespace, session: Session, event: str | None, exc: ChatError, raw: object):
        error = error_record(exc)
        client_ref = raw.get("client_ref") if isinstance(raw, dict) else None
        client_ref = client_ref if isinstance(client_ref, str) else None
        if ACK_WANTED.get():
            ack: dict = {"ok": False, "error": error}
            if event == "message:send":
                ack.update(status="error", client_ref=client_ref)
            return ack
        notice = {**error, "event": event}
        if client_ref is not None:
            notice["client_ref"] = client_ref
        await binding.emit(session, "error", notice)
        return None

    async def encode(self, event: Event) -> eio_packet.Packet | None:
        return self.frame(event.name, event.data) if event.name in SERVER_EVENTS else None

    def notice(self, error: ChatError) -> eio_packet.Packet:
        return self.frame("error", {**error_record(error), "event": None})

    def shutdown_notice(self, reconnect_in_ms: int) -> eio_packet.Packet:
        return self.frame(SERVER_SHUTDOWN, {"reason": "shutdown", "reconnect_in_ms": reconnect_in_ms})
