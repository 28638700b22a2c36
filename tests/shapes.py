"""Shapes several tiers' tests expect."""

# The fields of a message record that a plain text message, never edited, deleted, reacted to or replied
# to, has (`Message.record()`); tests spell out the rest.
UNCHANGED_MESSAGE_FIELDS = {
    "reply_to": None,
    "attachment": None,
    "meta": None,
    "edited_at": None,
    "deleted_at": None,
    "deleted_by": None,
    "version": "0",
    "reactions": [],
}
