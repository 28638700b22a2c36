"""Dotted names of the job functions in `worker/`, the contract between producer and consumer."""

PERSIST_MESSAGES = "worker.persist_messages.run"
