"""Dotted names of the job functions in `worker/`, the contract between producer and consumer."""

PERSIST_MESSAGES = "worker.persist_messages.run"
FLUSH_PRESENCE = "worker.flush_presence.run"
NOTIFY = "worker.notify.run"
DELIVER_WEBHOOK = "worker.webhook.run"
