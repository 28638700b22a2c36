-- Uploaded files (attachments). The bytes live in the blob store (local disk or S3-compatible) under
-- `storage_key`, a key the server makes; this row describes them and says who may send them.

CREATE TABLE attachments (
    id            BIGINT PRIMARY KEY,               -- time-ordered id made by the web node
    uploader_id   TEXT NOT NULL REFERENCES users (id),
    room_id       BIGINT REFERENCES rooms (id) ON DELETE SET NULL,  -- set when first sent; then only there
    name          TEXT NOT NULL,                    -- display name, cleaned; never a path
    content_type  TEXT NOT NULL,                    -- decided by the server from the bytes
    size          BIGINT NOT NULL CHECK (size > 0),
    kind          TEXT NOT NULL CHECK (kind IN ('image', 'video', 'audio', 'file')),
    storage_key   TEXT NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX attachments_unsent ON attachments (created_at) WHERE room_id IS NULL;
