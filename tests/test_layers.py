"""The layering the package docstrings promise, checked on the source: every import
(at module level, inside functions, under `if TYPE_CHECKING`, relative or dynamic
with a constant name) of every module under app/, worker/ and config/."""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "worker", "config")
STDLIB = "<stdlib>"

# layer -> what its modules may import (a module, or anything under it). STDLIB is the standard library.
# A module belongs to the longest layer that names it or a package above it.
ALLOWED: dict[str, tuple[str, ...]] = {
    "app.chat": (STDLIB, "app.chat"),
    "config": (STDLIB, "config"),
    "app.storage": (STDLIB, "app.chat", "app.storage", "peewee", "playhouse", "psycopg2", "orjson"),
    "app.files": (STDLIB, "app.chat", "app.files"),
    "app.state": (STDLIB, "app.chat", "app.state", "redis", "orjson"),
    "app.jobs": (STDLIB, "app.chat", "app.jobs", "app.state.keys", "rq", "redis"),
    "app.schemas": (STDLIB, "app.chat", "app.schemas", "marshmallow", "apispec"),
    "app.auth": (STDLIB, "app.chat", "app.auth", "config", "jwt"),
    # The session layer: what a connection is, whatever its wire. No protocol library, no storage, no Redis.
    "app.realtime": (STDLIB, "app.chat", "app.auth", "app.schemas", "app.realtime", "app.ops.context", "marshmallow"),
    # One module (or package) per wire protocol, translating frames to the session layer's calls.
    "app.gateways": (
        *(STDLIB, "app.chat", "app.auth", "app.schemas", "app.realtime", "app.gateways", "app.ops.context", "config"),
        *("socketio", "engineio", "aiohttp", "marshmallow", "orjson", "apispec"),
    ),
    "app.rest": (
        *(STDLIB, "app.chat", "app.auth", "app.schemas", "app.rest", "app.ops", "config"),
        *("aiohttp", "aiohttp_jinja2", "marshmallow", "apispec", "orjson"),
    ),
    # Operations (readiness, metrics, logs, graceful stop): reads the session layer's counters, Redis and RQ.
    "app.ops": (
        *(STDLIB, "app.chat", "app.ops", "app.state.keys", "app.realtime.stats"),
        *("aiohttp", "redis", "rq", "prometheus_client"),
    ),
    # The ids log lines carry: set by the gateway, the REST adapter and the worker, so it needs nothing.
    "app.ops.context": (STDLIB,),
}

# scope -> what no module under it may import, whatever its layer's allowances.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "app": ("worker",),
    "worker": ("app.rest", "app.gateways", "app.web", "aiohttp", "socketio"),
}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    name: str  # the dotted module (or module.attribute, for `from m import a`) imported

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, source: str | None = None) -> list[Import]:
    """Every import in the file, wherever it stands in the tree."""
    source = path.read_text() if source is None else source
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                found.append(Import(path, node.lineno, base if alias.name == "*" else f"{base}.{alias.name}"))
        elif isinstance(node, ast.Call):
            # importlib.import_module("x") / __import__("x") with a constant name
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if called in {"import_module", "__import__"} and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append(Import(path, node.lineno, first.value))
    return found


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def is_stdlib(name: str) -> bool:
    return name.partition(".")[0] in sys.stdlib_module_names


def matches(name: str, entry: str) -> bool:
    return is_stdlib(name) if entry == STDLIB else under(name, entry)


def layer_of(module: str) -> str | None:
    layers = [layer for layer in ALLOWED if under(module, layer)]
    return max(layers, key=len) if layers else None


def violations(path: Path, source: str | None = None) -> list[str]:
    module = module_name(path)
    layer = layer_of(module)
    found = []
    for imp in imports_of(path, source):
        if layer is not None and not any(matches(imp.name, entry) for entry in ALLOWED[layer]):
            found.append(f"{imp.where()}: {module} (layer {layer}) imports {imp.name}, not allowed for the layer")
        for scope, banned in FORBIDDEN.items():
            if under(module, scope):
                hit = next((entry for entry in banned if matches(imp.name, entry)), None)
                if hit is not None:
                    found.append(f"{imp.where()}: {module} imports {imp.name} (nothing under {scope} may import {hit})")
    return found


def source_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_no_module_imports_a_layer_it_must_not():
    problems = [problem for path in source_files() for problem in violations(path)]
    assert not problems, "layering violations:\n" + "\n".join(problems)


# Self-checks: the walker must really see imports, or the test above would pass on nothing.


def test_the_walker_sees_the_imports_that_are_there():
    assert len(source_files()) > 30
    names = {imp.name for imp in imports_of(ROOT / "app/storage/models.py")}
    assert "peewee" in names
    names = {imp.name for imp in imports_of(ROOT / "app/storage/messages.py")}
    assert {"psycopg2.extras.execute_values", "app.storage.models.MessageRow"} <= names
    # imports inside functions (the CLI imports aiohttp lazily)
    cli = [imp for path in (ROOT / "app/cli").rglob("*.py") for imp in imports_of(path)]
    assert any(under(imp.name, "aiohttp") for imp in cli)


def test_every_layer_in_the_table_has_modules_with_imports():
    for layer in ALLOWED:
        files = [path for path in source_files() if layer_of(module_name(path)) == layer]
        assert files, f"no module belongs to layer {layer}: the rule checks nothing"
        assert any(imports_of(path) for path in files), f"no import found in layer {layer}"


@pytest.mark.parametrize(
    ("path", "source", "line", "forbidden"),
    [
        ("app/chat/rooms.py", "def f():\n    import redis\n", 2, "redis"),
        ("app/chat/rooms.py", "from app.storage import rooms\n", 1, "app.storage.rooms"),
        ("app/chat/rooms.py", "from ..storage import rooms\n", 1, "app.storage.rooms"),
        ("app/chat/rooms.py", "import importlib\nimportlib.import_module('peewee')\n", 2, "peewee"),
        ("app/jobs/queues.py", "from app.state import bus\n", 1, "app.state.bus"),
        ("app/jobs/queues.py", "from app.state.outbox import Outbox\n", 1, "app.state.outbox.Outbox"),
        ("app/gateways/socketio/server.py", "if True:\n    from redis import asyncio\n", 2, "redis.asyncio"),
        ("app/realtime/hub.py", "import socketio\n", 1, "socketio"),
        ("app/realtime/topics.py", "def f():\n    from aiohttp import web\n", 2, "aiohttp.web"),
        ("app/realtime/hub.py", "from app.state.bus import RedisBus\n", 1, "app.state.bus.RedisBus"),
        ("app/gateways/socketio/server.py", "import app.storage.rooms\n", 1, "app.storage.rooms"),
        ("app/rest/rooms.py", "import rq\n", 1, "rq"),
        ("app/web.py", "class A:\n    def f(self):\n        import worker.runtime\n", 3, "worker.runtime"),
        ("config/settings.py", "import orjson\n", 1, "orjson"),
        ("worker/runtime.py", "from app.rest import api\n", 1, "app.rest.api"),
        ("worker/main.py", "x = 1\nimport socketio\n", 2, "socketio"),
    ],
)
def test_a_forbidden_import_is_reported_with_file_line_and_name(path, source, line, forbidden):
    problems = violations(ROOT / path, source)
    assert problems, f"{forbidden} in {path} went unnoticed"
    assert all(problem.startswith(f"{path}:{line}:") for problem in problems), problems
    assert all(f"imports {forbidden}" in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("app/jobs/queues.py", "from app.state.keys import Keys\nfrom app.state import keys\nimport rq.job\n"),
        ("app/storage/rooms.py", "from . import models\nfrom .models import RoomRow\nimport asyncio\n"),
        ("app/gateways/socketio/server.py", "from ...schemas import fields\nimport config\n"),
        ("worker/runtime.py", "import peewee\nfrom app.storage.database import open_database\n"),
        ("app/web.py", "from aiohttp import web\nfrom app.storage import migrate\n"),
    ],
)
def test_allowed_imports_pass(path, source):
    assert violations(ROOT / path, source) == []
