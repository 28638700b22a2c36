"""The documentation matches the code: the README's settings table, its commands, the Dockerfile."""

import re
from pathlib import Path

import config

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _table_rows() -> dict[str, str]:
    rows = {}
    for line in README.splitlines():
        match = re.match(r"^\| `([A-Z_]+)` \| `([^`]*)` \|", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def _shown(default: object) -> str:
    if isinstance(default, bool):
        return str(default).lower()
    return "(unset)" if default == "" else str(default)


def test_the_readme_lists_every_setting_with_its_default_and_nothing_else():
    documented = _table_rows()
    expected = {name: _shown(default) for _section, name, default, _doc in config.options()}
    assert documented == expected


def test_the_quick_start_is_exactly_two_commands_and_ci_runs_the_test_one():
    for marker in ("run-command", "test-command"):
        block = re.search(rf"<!-- {marker} -->\n```\n(.+?)\n```\n<!-- /{marker} -->", README, re.S)
        assert block is not None, marker
        assert "\n" not in block.group(1).strip(), f"{marker} must be one command line"
    assert "test-command" in (ROOT / ".ci" / "run").read_text()


def test_the_docker_image_holds_every_runtime_package():
    copied = {line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")}
    assert {"requirements.txt", "run.py", "config", "app", "worker", "templates", "static"} <= copied
