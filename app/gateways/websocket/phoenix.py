"""Seed 000's dialect: Phoenix Channels over WebSocket, V2 JSON serializer, at `/socket/websocket`.

Connect as npm `phoenix` does: `new Socket("ws://host/socket", {params: {token, device_unique_id,
preferred_language}})` opens `/socket/websocket?token=…&vsn=2.0.0`. A refused connect (bad, expired or
missing token, a disabled user, a vsn other than 2.0.0) fails the upgrade with HTTP 403, as Phoenix does.

Every frame is `[join_ref, ref, topic, event, payload]`, both ways.
- `phoenix` `heartbeat` → `phx_reply {status: "ok", response: {}}` (and the connection is kept alive in
  presence). `phx_join` / `phx_leave` → `phx_reply {status: "ok" | "error", response}`, with the request's refs.
- `chat:<room_id>`: members only (else `error` with `reason`: the error code). The join may pass
  `{since_seq}` (or `{last_seq}`): the missed messages follow the reply as `receive_message` pushes, in
  order, before any live one. Pushes: `send_message {content, mobile_ref_id}` → a reply and `message_sent
  {mobile_ref_id, status: "sent" | "error", chat_id, …}` (idempotent on `mobile_ref_id`); `typing {typing?}`;
  `read {seq? | message_id?}`. Events: `receive_message` (to the others joined: not to the connection that
  sent it), `typing`, `read`, `message_updated`, `message_deleted`, and `presence_update` of the room's
  members; `phx_close` when the user leaves or is removed from the room.
- `notifications:<user_id>`, one's own id only: `new_notification {chat_id, sender_id, content, timestamp}`
  (and `id`, `message_id`, `seq`, `sender_name`) for messages of rooms whose chat topic this connection has
  not joined, and on join one
  `pending_notification` per notification stored while the user was offline (marked delivered once
  written to the connection).
- Errors, as Phoenix answers them: a reply `{status: "error", response: {reason, code, message}}` to a
  request with a ref (`reason: "unmatched topic"` for a topic not joined or not served); a frame that is
  not the V2 array gets `phx_error` on topic `phoenix`. Broadcasts carry a null join_ref (Phoenix's
  fastlane); frames for one connection carry its channel's join_ref.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable

from app.chat import events
from app.chat.errors import ChatError, Code
from app.chat.events import Event
from app.gateways.websocket.binding import JsonDialect, frame
from app.realtime.hub import Hub
from app.realtime.session import Credentials, RecentRefs, Session

log = logging.getLogger(__name__)

CHAT, NOTIFICATIONS, SYSTEM = "chat:", "notifications:", "phoenix"
VSN = "2.0.0"
UNMATCHED = "unmatched topic"
SHARED = {
    events.MESSAGE_NEW: "receive_message",
    events.TYPING_UPDATE: "typing",
    events.RECEIPT_READ: "read",
    events.MESSAGE_UPDATED: "message_updated",
    events.MESSAGE_DELETED: "message_deleted",
}
PERSONAL = {events.NOTIFICATION_NEW, events.PRESENCE_UPDATE, events.ROOM_REMOVED, events.ROOM_MEMBERS_CHANGED}
SERVER_FRAMES = (
    "phx_reply",
    "phx_close",
    "phx_error",
    "message_sent",
    "receive_message",
    "typing",
    "read",
    "message_updated",
    "message_deleted",
    "presence_update",
    "new_notification",
    "pending_notification",
)


def receive_message(message: dict) -> dict:
    return {
        "id": message["id"],
        "chat_id": message["room_id"],
        "seq": message["seq"],
        "sender_id": message["sender_id"],
        "content": message["content"],
        "type": message["type"],
        "timestamp": message["created_at"],
        "client_ref": message["client_ref"],  # the sender's reference for it (a mobile_ref_id, as a string)
        "attachment": message["attachment"],
        "reply_to": message["reply_to"],
    }


def notification(data: dict) -> dict:
    return {
        "id": data["id"],
        "chat_id": data["room_id"],
        "message_id": data["message_id"],
        "seq": data["seq"],
        "sender_id": data["sender_id"],
        "sender_name": data["sender_name"],
        "content": data["excerpt"],
        "timestamp": data["created_at"],
    }


def _state(session: Session) -> dict:
    """The connection's channels (topic -> join_ref), its recent sends, and the members of its joined rooms."""
    state = session.state
    if "channels" not in state:  # events may reach a session before it is fully open
        state.update(channels={}, refs=RecentRefs(), members={})
    return state


class PhoenixDialect(JsonDialect):
    name = "phoenix"
    refusal_status = 403
    operations = (
        "presence:heartbeat",
        "room:join",
        "room:leave",
        "message:send",
        "typing:start",
        "typing:stop",
        "room:read",  # the `read` push: every operation performed must be declared (the hub counts by name)
    )
    frames = (*SERVER_FRAMES, *SHARED, *PERSONAL)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()

    def credentials(self, request) -> Credentials:
        query = request.query
        if query.get("vsn", VSN) != VSN:
            raise ChatError(Code.INVALID_PAYLOAD, f"only the V2 JSON serializer is served (vsn={VSN})")
        return Credentials(
            token=query.get("token"),
            device_id=query.get("device_unique_id"),
            preferred_language=query.get("preferred_language"),
        )

    # -- client frames ------------------------------------------------------------------------------

    async def handle(self, hub: Hub, session: Session, message: object) -> None:
        if not (
            isinstance(message, list)
            and len(message) == 5
            and all(part is None or isinstance(part, str) or _integer(part) for part in message[:2])
            and isinstance(message[2], str)
            and isinstance(message[3], str)
        ):
            error = ChatError(Code.INVALID_PAYLOAD, "a frame must be [join_ref, ref, topic, event, payload]")
            hub.send(session, self.error(hub.reject(session, error), None), "phx_error")
            return
        join_ref, ref, topic, event, payload = message
        state = _state(session)
        if topic == SYSTEM and event == "heartbeat":
            try:
                await hub.perform(session, "presence:heartbeat", {})
            except ChatError as exc:  # the connection stays alive: presence will catch up
                log.info("a Phoenix heartbeat was not recorded: %s", exc.code.value)
            self._reply(hub, session, None, ref, SYSTEM, "ok", {})
        elif event == "phx_join":
            await self._join(hub, session, join_ref, ref, topic, payload)
        elif event == "phx_leave":
            await self._leave(hub, session, join_ref, ref, topic)
        elif topic not in state["channels"]:
            error = hub.reject(session, ChatError(Code.UNKNOWN_EVENT, f"{topic!r} is not joined"))
            self._reply(hub, session, join_ref, ref, topic, "error", _reason(error, UNMATCHED))
        elif topic.startswith(CHAT):
            await self._push(hub, session, join_ref, ref, topic, event, payload)
        else:
            error = hub.reject(session, ChatError(Code.UNKNOWN_EVENT, f"no event {event!r} on {topic!r}"))
            self._reply(hub, session, join_ref, ref, topic, "error", _reason(error))

    async def _join(self, hub: Hub, session: Session, join_ref, ref, topic: str, payload: object) -> None:
        state = _state(session)
        channels = state["channels"]
        if topic in channels:  # joined twice: Phoenix closes the channel, then joins anew
            old = channels.pop(topic)
            hub.send(session, frame([old, old, topic, "phx_close", {}]), "phx_close")
        params = payload if isinstance(payload, dict) else {}
        if topic.startswith(CHAT) and len(topic) > len(CHAT):
            await self._join_chat(hub, session, join_ref, ref, topic, params)
        elif topic == NOTIFICATIONS + session.user.id:
            try:
                hub.spend(session)
            except ChatError as exc:
                self._reply(hub, session, join_ref, ref, topic, "error", _reason(exc))
                return
            await self._join_notifications(hub, session, join_ref, ref, topic)
        elif topic.startswith(NOTIFICATIONS):
            error = hub.reject(session, ChatError(Code.USER_MISMATCH, "only one's own notifications can be joined"))
            self._reply(hub, session, join_ref, ref, topic, "error", _reason(error, "unauthorized"))
        else:
            error = hub.reject(session, ChatError(Code.UNKNOWN_EVENT, f"no topic {topic!r} here"))
            self._reply(hub, session, join_ref, ref, topic, "error", _reason(error, UNMATCHED))

    async def _join_chat(self, hub: Hub, session: Session, join_ref, ref, topic: str, params: dict) -> None:
        room_id = topic[len(CHAT) :]
        state = _state(session)

        def answer(result: dict) -> None:
            # Runs before the messages held back during the join are let through: the reply, then what was
            # missed, then (after it) the live ones, all in seq order.
            state["channels"][topic] = join_ref
            response = {"chat_id": room_id, "last_seq": result["last_seq"], "has_more": result["has_more"]}
            self._reply(hub, session, join_ref, ref, topic, "ok", response)
            for message in result["messages"]:
                data = receive_message(message)
                hub.send(session, frame([join_ref, None, topic, "receive_message", data]), "receive_message")

        since = params.get("since_seq", params.get("last_seq"))
        try:
            state["members"][room_id] = await hub.members(room_id)
            await hub.perform(session, "room:join", {"room_id": room_id, "since_seq": since}, before_release=answer)
        except ChatError as exc:
            state["members"].pop(room_id, None)
            self._reply(hub, session, join_ref, ref, topic, "error", _reason(exc))

    async def _join_notifications(self, hub: Hub, session: Session, join_ref, ref, topic: str) -> None:
        _state(session)["channels"][topic] = join_ref
        self._reply(hub, session, join_ref, ref, topic, "ok", {})
        try:
            found, _total = await hub.pending(session)
        except ChatError as exc:
            log.info("pending notifications could not be read: %s", exc.code.value)
            return
        for pending in found:
            push = [join_ref, None, topic, "pending_notification", notification(pending.record())]
            hub.send(session, frame(push), "pending_notification")
        ids = [pending.id for pending in found if pending.id is not None]
        if ids:
            session.transport.after_sent(lambda: self._spawn(hub.acknowledge(session, ids)))

    async def _leave(self, hub: Hub, session: Session, join_ref, ref, topic: str) -> None:
        state = _state(session)
        try:
            hub.spend(session)
        except ChatError as exc:
            self._reply(hub, session, join_ref, ref, topic, "error", _reason(exc))
            return
        if state["channels"].pop(topic, None) is not None and topic.startswith(CHAT):
            room_id = topic[len(CHAT) :]
            state["members"].pop(room_id, None)
            try:
                await hub.perform(session, "room:leave", {"room_id": room_id})
            except ChatError as exc:
                log.info("leaving %s: %s", topic, exc.code.value)
        self._reply(hub, session, join_ref, ref, topic, "ok", {})  # as Phoenix: a leave is always ok

    async def _push(self, hub: Hub, session: Session, join_ref, ref, topic: str, event: str, payload: object) -> None:
        room_id = topic[len(CHAT) :]
        data = payload if isinstance(payload, dict) else {}
        if event == "send_message":
            await self._send(hub, session, join_ref, ref, topic, room_id, payload)
            return
        if event == "typing":
            typing = data.get("typing", True)
            if not isinstance(typing, bool):
                error = hub.reject(session, ChatError(Code.INVALID_PAYLOAD, "typing must be true or false"))
                self._reply(hub, session, join_ref, ref, topic, "error", _reason(error))
                return
            operation, request = ("typing:start" if typing else "typing:stop"), {"room_id": room_id}
        elif event == "read":
            operation = "room:read"
            request = {"room_id": room_id, "seq": data.get("seq"), "message_id": data.get("message_id")}
        else:
            error = hub.reject(session, ChatError(Code.UNKNOWN_EVENT, f"no event {event!r} on {topic!r}"))
            self._reply(hub, session, join_ref, ref, topic, "error", _reason(error))
            return
        try:
            result = await hub.perform(session, operation, request)
        except ChatError as exc:
            self._reply(hub, session, join_ref, ref, topic, "error", _reason(exc))
            return
        self._reply(hub, session, join_ref, ref, topic, "ok", result)

    async def _send(self, hub: Hub, session: Session, join_ref, ref, topic: str, room_id: str, payload) -> None:
        data = payload if isinstance(payload, dict) else {}
        mobile_ref_id = data.get("mobile_ref_id")
        try:
            if not isinstance(payload, dict):
                raise ChatError(Code.INVALID_PAYLOAD, "send_message takes {content, mobile_ref_id}")
            if mobile_ref_id is not None and (
                isinstance(mobile_ref_id, bool) or not isinstance(mobile_ref_id, (str, int, float))
            ):
                raise ChatError(
                    Code.INVALID_PAYLOAD,
                    "mobile_ref_id must be a string or a number",
                    {"fields": {"mobile_ref_id": ["not a string or a number"]}},
                )
            # Every send has a client ref, so that this connection can tell its own messages apart (they
            # are confirmed with message_sent, not echoed) and a resend with the same mobile_ref_id is stored once.
            client_ref = str(mobile_ref_id) if mobile_ref_id is not None else uuid.uuid4().hex
            _state(session)["refs"].add(client_ref)
            request = {"room_id": room_id, "content": data.get("content"), "client_ref": client_ref}
            receipt = await hub.perform(session, "message:send", request)
        except ChatError as exc:
            failed = {"mobile_ref_id": mobile_ref_id, "status": "error", "chat_id": room_id, **_reason(exc)}
            self._reply(hub, session, join_ref, ref, topic, "error", failed)
            hub.send(session, frame([join_ref, None, topic, "message_sent", failed]), "message_sent")
            return
        sent = {
            "mobile_ref_id": mobile_ref_id,
            "status": "sent",
            "chat_id": room_id,
            "id": receipt["id"],
            "seq": receipt["seq"],
            "timestamp": receipt["created_at"],
            "duplicate": receipt["duplicate"],
        }
        self._reply(hub, session, join_ref, ref, topic, "ok", sent)
        hub.send(session, frame([join_ref, None, topic, "message_sent", sent]), "message_sent")

    def _reply(self, hub: Hub, session: Session, join_ref, ref, topic: str, status: str, response: dict) -> None:
        reply = frame([join_ref, ref, topic, "phx_reply", {"status": status, "response": response}])
        hub.send(session, reply, "phx_reply")

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def error(self, error: ChatError, request: object) -> bytes:
        return frame([None, None, SYSTEM, "phx_error", _reason(error)])

    def close_code(self, error: ChatError) -> int:
        return 1008

    # -- server events ------------------------------------------------------------------------------

    async def encode(self, event: Event) -> object | None:
        name = event.name
        if name in SHARED:
            data = event.data
            if name == events.MESSAGE_NEW:
                room_id, data = data["room_id"], receive_message(data)
            elif name == events.MESSAGE_UPDATED:
                room_id, data = data["message"]["room_id"], data["message"]
            else:
                room_id = data["room_id"]
            return frame([None, None, CHAT + room_id, SHARED[name], data])  # a broadcast: no join_ref
        return event if name in PERSONAL else None  # made per connection, in `select`

    def select(self, session: Session, event: Event, encoded: object) -> Iterable[object]:
        name = event.name
        data = event.data
        state = _state(session)
        if name == events.MESSAGE_NEW:
            if data["sender_id"] == session.user.id and data["client_ref"] in state["refs"]:
                return ()  # this connection sent it: it had message_sent
            return (encoded,)
        if name in SHARED:
            return (encoded,)
        channels = state["channels"]
        if name == events.NOTIFICATION_NEW:
            topic = NOTIFICATIONS + session.user.id
            join_ref = channels.get(topic)
            if join_ref is None:
                return ()
            return (frame([join_ref, None, topic, "new_notification", notification(data)]),)
        if name == events.PRESENCE_UPDATE:
            frames = []
            for room_id, members in state["members"].items():
                topic = CHAT + room_id
                if data["user_id"] in members and topic in channels:
                    frames.append(frame([channels[topic], None, topic, "presence_update", data]))
            return frames
        if name == events.ROOM_MEMBERS_CHANGED:
            members = state["members"].get(data["room_id"])
            if members is not None:
                members.update(data["added"])
                members.difference_update(data["removed"])
            return ()
        if name == events.ROOM_REMOVED:  # the user left or was removed: the channel closes
            topic = CHAT + data["room_id"]
            state["members"].pop(data["room_id"], None)
            join_ref = channels.pop(topic, None)
            return () if join_ref is None else (frame([join_ref, join_ref, topic, "phx_close", {}]),)
        return ()


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _reason(error: ChatError, reason: str | None = None) -> dict:
    """An error as Phoenix clients read one: `reason` (Phoenix's own wording where it has one, else the
    stable code), with the code and message."""
    response = {"reason": reason or error.code.value, "code": error.code.value, "message": error.message}
    if error.details:
        response["details"] = error.details
    return response
