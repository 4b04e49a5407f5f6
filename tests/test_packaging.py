"""The distribution: both scripts answer, and the import boundaries hold."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("script", ["auren-tui", "auren-bridge"])
def test_scripts_answer_help_and_version(script: str) -> None:
    help_out = subprocess.run(
        [str(BIN / script), "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    assert help_out.stdout.startswith(f"usage: {script}")
    version = subprocess.run(
        [str(BIN / script), "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert version.stdout.strip().split() == [script, "0.1.0"]


def _imports(package: str) -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in (REPO / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path] = names
    return found


def test_auren_tui_imports_only_the_wire_schema_of_bridge_service() -> None:
    allowed = {"bridge_service.schema"}
    offenders = {
        str(path.relative_to(REPO)): sorted(bad)
        for path, names in _imports("auren_tui").items()
        if (bad := {n for n in names if n.split(".")[0] == "bridge_service"} - allowed)
    }
    assert offenders == {}


def test_non_ui_layer_and_bridge_never_import_textual() -> None:
    # import-linter checks this too (make lint); this is the same rule as a test.
    offenders = [
        str(path.relative_to(REPO))
        for package in ("auren_tui/core", "auren_tui/cli", "bridge_service")
        for path, names in _imports(package).items()
        if any(n == "textual" or n.startswith("textual.") for n in names)
    ]
    assert offenders == []


def test_themes_ship_in_the_wheel_config() -> None:
    text = (REPO / "pyproject.toml").read_text()
    assert '"themes" = "auren_tui/themes"' in text
    assert sorted(p.name for p in (REPO / "themes").glob("*.toml")) == [
        "auren-dark.toml",
        "auren-high-contrast.toml",
        "auren-light.toml",
    ]
