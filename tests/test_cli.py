"""The ``mixseq`` command: plugins listing, demo, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mixseq.cli import main


def test_plugins_json_lists_the_core(capsys) -> None:
    assert main(["plugins", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    core = next(entry for entry in listing if entry["name"] == "mixseq")
    assert set(core) >= {"name", "version", "components"}
    assert core["components"]["dynamics_models"] == ["linear_gaussian"]
    assert "plugins" in core["commands"] and "demo" in core["commands"]


def test_plugins_table(capsys) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["plugin", "version", "registered"]
    assert "linear_gaussian" in out


def test_core_demo_writes_its_plots(tmp_path: Path, capsys) -> None:
    assert main(["--quiet", "demo", "--only", "core", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("mean ")[1].split(",")[0])
    assert accuracy > 0.9
    assert (tmp_path / "core-elbo.png").stat().st_size > 1000
    assert (tmp_path / "core-tracks.png").stat().st_size > 1000


def test_unknown_demo_is_a_clear_error(capsys) -> None:
    assert main(["demo", "--only", "nope"]) == 2
    assert "unknown demo nope; known: core" in capsys.readouterr().err


def test_console_script_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "mixseq.cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "plugins" in done.stdout
