"""Job: notify the members of the rooms of a batch of persisted messages (see app/chat/notifications.py).

Members with a live connection get `notification:new`; the others get a
stored pending notification, published too (they may have connected
meanwhile) and, with a webhook configured, pushed to it. A message's
notifications are published as one `notification:batch` event, which each
node expands for the recipients' sessions it serves that do not follow the
room (app/realtime/topics.py). Stored notifications are unique per (user, message), so a retried job
stores and pushes nothing twice; a live notification may repeat, and
carries the message id for clients to tell.
"""

from __future__ import annotations

import time
import uuid

from app.chat import events
from app.chat.model import Message, Notification
from app.chat.notifications import plan
from app.jobs.queues import enqueue_webhook
from app.state import recipients
from app.state.keys import NOTIFICATIONS_QUEUE
from app.storage import notifications, rooms, users
from worker.runtime import open_runtime


def run(records: list[dict]) -> dict:
    runtime = open_runtime()
    settings = runtime.settings.notifications
    messages = [Message.from_record(record) for record in records]
    with runtime.database() as db:
        members = rooms.members_of_rooms(list({m.room_id for m in messages}))
        names = users.names(list({m.sender_id for m in messages}))
    everyone = sorted({user_id for ids in members.values() for user_id in ids})
    online = recipients.online_users(runtime.redis, runtime.keys, everyone, int(time.time() * 1000))
    pairs = sorted({(user_id, m.room_id) for m in messages for user_id in members.get(m.room_id, ())})
    # The further of the two cursors: Redis is ahead between presence flushes, Postgres after a Redis data loss.
    cursors = recipients.read_cursors(runtime.redis, runtime.keys, pairs)
    for user_id, room_id in pairs:
        stored = members[room_id][user_id]
        if stored > cursors.get((user_id, room_id), 0):
            cursors[(user_id, room_id)] = stored
    decided = plan(messages, members, online, cursors, names, settings.notification_excerpt_length)
    unread = {(n.user_id, n.message_id): count for n, count in decided.store}
    with runtime.database() as db:
        stored = notifications.insert_batch(db, [n for n, _ in decided.store])
    published = [(n, count) for n, count in decided.live] + [(n, unread[(n.user_id, n.message_id)]) for n in stored]
    by_message: dict[str, list[tuple[Notification, int]]] = {}
    for n, count in published:
        by_message.setdefault(n.message_id, []).append((n, count))
    # One event per message for all its recipients, which each node expands for its own sessions.
    recipients.publish(
        runtime.redis,
        runtime.keys,
        ((events.SYSTEM_TOPIC, events.notification_batch(each)) for each in by_message.values()),
    )
    if stored and settings.push_webhook_url:
        payload = {
            "delivery_id": uuid.uuid4().hex,
            "notifications": [{"user_id": n.user_id, **n.record()} for n in stored],
        }
        enqueue_webhook(runtime.queue(NOTIFICATIONS_QUEUE), payload, settings.retry_intervals, settings.webhook_timeout)
    return {"live": len(decided.live), "stored": len(stored)}
