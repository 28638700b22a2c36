"""The chat backend. `app.chat` is the core; every other package is an adapter
around it, and `app.web` is the composition root of the web process.
Nothing under `app` imports `worker`: jobs are enqueued by dotted name."""
