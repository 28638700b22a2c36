-- The per-room change feed (see docs/architecture.md, "Catching up on changes"): messages edited or
-- deleted after a version, by version. Only changed messages (version > 0) are indexed, so the index
-- stays as small as the number of edits and deletes.
CREATE INDEX messages_changes ON messages (room_id, version) WHERE version > 0;
