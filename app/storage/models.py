"""Peewee models, mirroring the schema that `migrations/` creates.

The schema is owned by the SQL migrations; a test checks that every model
field matches a column. Models are bound to a database by `open_database`.
"""

from __future__ import annotations

import peewee
from playhouse.postgres_ext import BinaryJSONField


class BaseModel(peewee.Model):
    class Meta:
        legacy_table_names = False


class UserRow(BaseModel):
    id = peewee.TextField(primary_key=True)
    name = peewee.TextField(null=True)
    username = peewee.TextField(null=True)
    is_active = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()
    last_seen_at = peewee.DateTimeField(null=True)
    status = peewee.TextField(default="online")
    preferred_language = peewee.TextField(null=True)

    class Meta:
        table_name = "users"


class RoomRow(BaseModel):
    id = peewee.BigAutoField()
    kind = peewee.TextField()
    name = peewee.TextField(null=True)
    owner_id = peewee.TextField(null=True)
    direct_a = peewee.TextField(null=True)
    direct_b = peewee.TextField(null=True)
    created_at = peewee.DateTimeField()

    class Meta:
        table_name = "rooms"


class MembershipRow(BaseModel):
    room_id = peewee.BigIntegerField()
    user_id = peewee.TextField()
    role = peewee.TextField()
    joined_at = peewee.DateTimeField()
    last_read_seq = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "memberships"
        primary_key = peewee.CompositeKey("room_id", "user_id")


class MessageRow(BaseModel):
    id = peewee.BigIntegerField(primary_key=True)
    room_id = peewee.BigIntegerField()
    seq = peewee.BigIntegerField()
    sender_id = peewee.TextField()
    type = peewee.TextField(default="text")
    content = peewee.TextField()
    client_ref = peewee.TextField(null=True)
    created_at = peewee.DateTimeField()
    edited_at = peewee.DateTimeField(null=True)
    deleted_at = peewee.DateTimeField(null=True)
    deleted_by = peewee.TextField(null=True)
    version = peewee.BigIntegerField(default=0)
    reply_to = peewee.BigIntegerField(null=True)
    attachment = BinaryJSONField(null=True)
    meta = BinaryJSONField(null=True)

    class Meta:
        table_name = "messages"


class DeviceRow(BaseModel):
    user_id = peewee.TextField()
    device_id = peewee.TextField()
    preferred_language = peewee.TextField(null=True)
    first_seen_at = peewee.DateTimeField()
    last_seen_at = peewee.DateTimeField()

    class Meta:
        table_name = "devices"
        primary_key = peewee.CompositeKey("user_id", "device_id")


class NotificationRow(BaseModel):
    id = peewee.BigAutoField()
    user_id = peewee.TextField()
    room_id = peewee.BigIntegerField()
    message_id = peewee.BigIntegerField()
    seq = peewee.BigIntegerField()
    sender_id = peewee.TextField()
    excerpt = peewee.TextField()
    created_at = peewee.DateTimeField()
    delivered_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "notifications"


class ReactionRow(BaseModel):
    message_id = peewee.BigIntegerField()
    room_id = peewee.BigIntegerField()
    user_id = peewee.TextField()
    emoji = peewee.TextField()
    created_at = peewee.DateTimeField()

    class Meta:
        table_name = "reactions"
        primary_key = peewee.CompositeKey("message_id", "emoji", "user_id")


class FavoriteRow(BaseModel):
    user_id = peewee.TextField()
    kind = peewee.TextField()
    target_id = peewee.TextField()
    created_at = peewee.DateTimeField()

    class Meta:
        table_name = "favorites"
        primary_key = peewee.CompositeKey("user_id", "kind", "target_id")


class AttachmentRow(BaseModel):
    id = peewee.BigIntegerField(primary_key=True)
    uploader_id = peewee.TextField()
    room_id = peewee.BigIntegerField(null=True)
    name = peewee.TextField()
    content_type = peewee.TextField()
    size = peewee.BigIntegerField()
    kind = peewee.TextField()
    storage_key = peewee.TextField()
    created_at = peewee.DateTimeField()

    class Meta:
        table_name = "attachments"


MODELS = [
    UserRow,
    RoomRow,
    MembershipRow,
    MessageRow,
    DeviceRow,
    NotificationRow,
    ReactionRow,
    FavoriteRow,
    AttachmentRow,
]
