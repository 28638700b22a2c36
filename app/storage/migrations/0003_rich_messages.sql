-- Edits, deletes (tombstones), replies, system messages, attachments on messages; reactions; favorites.

ALTER TABLE messages
    ADD COLUMN edited_at   TIMESTAMPTZ,            -- the last edit's time; null if never edited
    ADD COLUMN deleted_at  TIMESTAMPTZ,            -- set on delete: the row stays (a tombstone), content is emptied
    ADD COLUMN deleted_by  TEXT,
    ADD COLUMN version     BIGINT NOT NULL DEFAULT 0,  -- time-ordered id of the last change applied (0: none)
    ADD COLUMN reply_to    BIGINT,                 -- an earlier message of the same room
    ADD COLUMN attachment  JSONB,                  -- {id, name, content_type, size, kind} of an uploaded file
    ADD COLUMN meta        JSONB;                  -- what a system message records ({event, user_ids, ...})

-- Reactions: one row per (message, user, emoji). The message may still be on its way to Postgres (it is
-- acknowledged once in Redis), so there is no foreign key to messages; rows go with their room.
CREATE TABLE reactions (
    message_id  BIGINT NOT NULL,
    room_id     BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id),
    emoji       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
);

-- Favorites: rooms and people a user marked.
CREATE TABLE favorites (
    user_id     TEXT NOT NULL REFERENCES users (id),
    kind        TEXT NOT NULL CHECK (kind IN ('room', 'user')),
    target_id   TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, kind, target_id)
);
