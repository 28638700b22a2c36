"""Command-line entry points behind `run.py`: the web node, migrations, tokens,
users, and the all-in-one supervisor with its embedded servers.
May import anything under `app` and `config`; never `worker` (run.py starts it)."""
