#!/usr/bin/env python3
"""Entry point of every process: `python run.py [command] --help`.

With no command: the all-in-one (embedded Postgres and Redis unless
DATABASE_URL / REDIS_URL are set, migrations, one web node, one worker).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="Real-time chat backend. With no command: embedded Postgres and Redis (unless DATABASE_URL and "
        "REDIS_URL are set), migrations, one web node and one worker; Ctrl-C stops all of it.",
        epilog="Every setting is an environment variable; see the README's configuration table. One `python run.py` "
        "per DATA_DIR; while it runs, `web`, `worker`, `migrate` and `user` with the same DATA_DIR and no "
        "DATABASE_URL / REDIS_URL use its embedded servers (recorded in DATA_DIR/servers.json).",
    )
    commands = parser.add_subparsers(dest="command", metavar="command")

    web = commands.add_parser(
        "web",
        help="run a web node (Socket.IO, raw WebSockets, REST, test page)",
        description="Run one web node: Socket.IO (the canonical namespace / and the seed namespaces /chat and "
        "/chat/), the raw WebSocket dialects (Phoenix Channels at /socket/websocket, /ws/{user_id}, the Django "
        "Channels sockets), the REST API with its OpenAPI and AsyncAPI documents, and the test page at /. It "
        "needs DATABASE_URL and REDIS_URL (run `run.py migrate` first) and a worker to persist what it "
        "acknowledges. Stops cleanly on SIGTERM or Ctrl-C.",
    )
    web.add_argument("--host", help="interface to listen on (HOST)")
    web.add_argument("--port", type=int, help="port to listen on (PORT)")

    worker = commands.add_parser(
        "worker",
        help="run RQ workers: messages into Postgres, presence, notifications, upload sweeps",
        description="Run RQ workers that drain the queues the web nodes fill: messages (persisted into Postgres "
        "in batches), presence (last-seen times), notifications (offline push and webhook delivery), plus the "
        "scheduled jobs (the outbox redrive that re-enqueues anything not yet persisted, and the sweep of "
        "abandoned uploads). Each process runs jobs in-process (no fork per job), rides out Redis and Postgres "
        "restarts, and finishes its job on SIGTERM.",
    )
    worker.add_argument("--queues", help="comma-separated queues to drain (WORKER_QUEUES), e.g. messages")
    worker.add_argument(
        "--processes", type=int, help="worker processes, each running jobs in-process (WORKER_PROCESSES)"
    )
    worker.add_argument("--burst", action="store_true", help="exit once the queues are empty")

    commands.add_parser(
        "migrate",
        help="apply pending database migrations (safe to run twice)",
        description="Apply the database migrations not applied yet, in order, and print their names (or that the "
        "schema is up to date). Run it before starting web nodes of a new version; nodes refuse to start on "
        "a schema that lacks one.",
    )

    token = commands.add_parser(
        "token",
        help="print a signed development token for a user (id, and optionally name and username)",
        description="Print a signed token for a user, for development and tests: signed with JWT_SECRET (or "
        "JWT_PRIVATE_KEY for RS/ES) when set, else with the development secret in DATA_DIR that `python "
        "run.py` uses. The user is created on first sign-in.",
    )
    token.add_argument("user_id", help="the user's id (the token's sub)")
    token.add_argument("--name", help="display name claim")
    token.add_argument(
        "--username",
        type=_username,
        help="username claim: 1 to 150 letters, digits or _ . @ + - (unique: a user signing in with a username "
        "another user holds takes it from them)",
    )
    token.add_argument("--ttl", type=int, default=86400, help="lifetime in seconds (default: one day)")

    user = commands.add_parser(
        "user",
        help="disable or enable a user",
        description="Disable or enable a user, on every node at once. Disabling refuses the user's tokens "
        "(user_disabled) and closes their live connections; enabling lets them sign in again at once. Their "
        "messages and rooms stay. Exits 1 when no such user exists.",
    )
    user.add_argument("action", choices=["disable", "enable"], help="disable: refuse and disconnect; enable: allow")
    user.add_argument("user_id", help="the user's id (their tokens' sub)")
    return parser


def _username(value: str) -> str:
    """--username, checked with the rule the token verifier applies (argparse exits 2 on a bad one)."""
    from app.chat.errors import ChatError
    from app.chat.rules import check_username

    try:
        return check_username(value)
    except ChatError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {exc.message}") from None


def _servers(env: dict[str, str], *needed: str) -> dict[str, str]:
    """DATABASE_URL / REDIS_URL when unset: those of the all-in-one running on DATA_DIR."""
    if all(env.get(name) for name in needed):
        return env
    from app.cli.instance import with_servers

    return with_servers(env, Path(config.load(env).paths.data_dir).resolve(), needed)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = dict(os.environ)
    overrides = {
        "HOST": getattr(args, "host", None),
        "PORT": getattr(args, "port", None),
        "WORKER_QUEUES": getattr(args, "queues", None),
        "WORKER_PROCESSES": getattr(args, "processes", None),
    }
    env.update({name: str(value) for name, value in overrides.items() if value is not None})

    from app.cli.commands import configure_logging
    from app.cli.instance import CannotStart

    try:
        if args.command is None:
            logs = config.load(env).logging
            configure_logging(logs.log_level, logs.log_format)
            from app.cli.supervisor import run_all

            return run_all(env)
        if args.command == "web":
            settings = config.load(
                _servers(env, "DATABASE_URL", "REDIS_URL"),
                require=(
                    "server",
                    "auth",
                    "database",
                    "redis",
                    "limits",
                    "queue",
                    "presence",
                    "notifications",
                    "attachments",
                    "logging",
                ),
            )
            configure_logging(settings.logging.log_level, settings.logging.log_format)
            from app.cli.commands import serve_web

            serve_web(settings)
            return 0
        if args.command == "worker":
            settings = config.load(
                _servers(env, "DATABASE_URL", "REDIS_URL"),
                require=("database", "redis", "queue", "notifications", "worker", "logging"),
            )
            configure_logging(settings.logging.log_level, settings.logging.log_format)
            from worker.main import run

            run(settings, settings.worker.queue_list, settings.worker.worker_processes, burst=args.burst)
            return 0
        if args.command == "migrate":
            settings = config.load(_servers(env, "DATABASE_URL"), require=("database",))
            configure_logging(settings.logging.log_level, settings.logging.log_format)
            from app.cli.commands import run_migrations

            applied = run_migrations(settings)
            print("applied: " + ", ".join(applied) if applied else "the schema is up to date")
            return 0
        if args.command == "token":
            # Minting tokens is for development: with no secret or key configured it signs with the
            # development secret in DATA_DIR, the one `python run.py` uses. A configured one wins.
            env.setdefault("DEV_MODE", "1")
            settings = config.load(env, require=("auth",))
            from app.cli.commands import make_token

            print(make_token(settings, args.user_id, args.name, args.ttl, args.username))
            return 0
        if args.command == "user":
            settings = config.load(_servers(env, "DATABASE_URL", "REDIS_URL"), require=("database", "redis"))
            from app.cli.commands import set_user_active

            if not set_user_active(settings, args.user_id, args.action == "enable"):
                print(f"no user {args.user_id!r}", file=sys.stderr)
                return 1
            print(f"{args.user_id}: {args.action}d")
            return 0
    except config.ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except CannotStart as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
