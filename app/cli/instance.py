"""The all-in-one of a DATA_DIR: one at a time, and where its embedded servers listen.

`python run.py` takes an exclusive lock on DATA_DIR/run.lock (flock, released by the OS when the
process dies, so a crash never leaves a stale lock) before it starts anything, and writes the URLs
of the embedded servers it started to DATA_DIR/servers.json (mode 0600), which it removes when it
stops. The other commands (`web`, `worker`, `migrate`, `user`) read that file at start for
DATABASE_URL / REDIS_URL when the environment does not set them (and DEV_MODE, as the all-in-one
ran with it); a variable that is set wins. The lock tells whether the file is current: a file
whose all-in-one is gone (killed) is refused.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from pathlib import Path

LOCK_FILE = "run.lock"
SERVERS_FILE = "servers.json"
SETTINGS = {"DATABASE_URL": "database_url", "REDIS_URL": "redis_url"}


class CannotStart(Exception):
    """The process cannot start as configured; its message is one line for the user."""


def cannot_listen(host: str, port: int, exc: OSError) -> CannotStart:
    """The one line for a web node that cannot bind host:port."""
    if exc.errno == errno.EADDRINUSE:
        return CannotStart(f"cannot listen on {host}:{port}: the port is in use; stop what uses it, or set PORT")
    return CannotStart(f"cannot listen on {host}:{port} (HOST, PORT): {exc.strerror or exc}")


class InstanceLock:
    """The exclusive lock of the all-in-one on DATA_DIR (the file holds its pid)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._fd: int | None = None

    def acquire(self, patience: float = 0.5) -> None:
        """Take the lock or raise CannotStart naming the process that holds it. `patience` covers a
        command that checks the lock at this very moment (it holds it for microseconds)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + patience
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = _read_pid(fd)
                    os.close(fd)
                    raise CannotStart(
                        f"DATA_DIR {self.data_dir} is in use by another `python run.py`"
                        + (f" (pid {holder})" if holder else "")
                        + ": stop it first, or give this one another DATA_DIR"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the last descriptor releases the lock
            self._fd = None


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip())
    return None


def running_pid(data_dir: Path) -> int | None:
    """The pid of the all-in-one that holds DATA_DIR's lock, or None when none does."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            # A shared lock conflicts with the all-in-one's exclusive one: taking it means nobody runs.
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def record(data_dir: Path, servers: dict[str, object]) -> Path:
    """Write servers.json (owner-only), atomically."""
    path = data_dir / SERVERS_FILE
    temporary = data_dir / f".{SERVERS_FILE}.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"pid": os.getpid(), **servers}, out, indent=2)
        out.write("\n")
    os.replace(temporary, path)
    return path


def recorded(data_dir: Path) -> dict | None:
    """What servers.json holds (whether or not its all-in-one still runs), or None."""
    try:
        return json.loads((data_dir / SERVERS_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None


def forget(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (data_dir / SERVERS_FILE).unlink()


def with_servers(env: dict[str, str], data_dir: Path, needed: tuple[str, ...]) -> dict[str, str]:
    """`env` with the `needed` settings among DATABASE_URL / REDIS_URL that it lacks taken from the
    all-in-one running on DATA_DIR. Raises CannotStart (one line) when none runs there."""
    missing = [name for name in needed if not env.get(name)]
    if not missing:
        return env
    where = data_dir / SERVERS_FILE
    pid = running_pid(data_dir)
    servers = recorded(data_dir)
    unset = " and ".join(missing) + (" is" if len(missing) == 1 else " are")
    if pid is None:
        if servers is not None:
            raise CannotStart(
                f"{unset} not set, and no all-in-one is running on DATA_DIR {data_dir}: the `python run.py` "
                f"that wrote {where} (pid {servers.get('pid')}) is gone. Start `python run.py` there again, or "
                f"set {' and '.join(missing)}"
            )
        raise CannotStart(
            f"{unset} not set, and no all-in-one (`python run.py`) is running on DATA_DIR {data_dir} to take "
            f"{'it' if len(missing) == 1 else 'them'} from: start one, or set {' and '.join(missing)}"
        )
    if servers is None or servers.get("pid") != pid:
        raise CannotStart(
            f"{unset} not set, and the all-in-one on DATA_DIR {data_dir} (pid {pid}) has not started its "
            f"servers yet: try again in a moment"
        )
    env = dict(env)
    for name in missing:
        url = servers.get(SETTINGS[name])
        if not url:
            raise CannotStart(
                f"{name} is not set, and the all-in-one on DATA_DIR {data_dir} (pid {pid}) does not run an "
                f"embedded one (it was given {name}): set the same {name}"
            )
        env[name] = url
    if "dev_mode" in servers and "DEV_MODE" not in env:
        # Next to a development all-in-one, a web node signs and checks tokens as its own does.
        env["DEV_MODE"] = "1" if servers["dev_mode"] else "0"
    return env
