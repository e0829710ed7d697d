"""The documentation builds with ``sphinx-build -W`` (warnings are errors), as ``make docs`` does."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent


@pytest.mark.docs_build
def test_sphinx_build_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    out = tmp_path / "html"
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d", str(tmp_path / "doctrees"),
         str(DOCS), str(out)],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert done.returncode == 0, f"sphinx-build -W failed:\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
    for page in DOCS.glob("*.md"):
        assert (out / f"{page.stem}.html").is_file(), f"{page.name} was not built"

    # The command reference lists every subcommand that `mixseq` itself has.
    from mixseq.cli import build_parser

    parser, _ = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    reference = (out / "cli.html").read_text(encoding="utf-8")
    for name, child in sub.choices.items():
        assert f"mixseq {name}" in reference, f"docs/cli.md: no section for `mixseq {name}`"
        for action in child._actions:
            for option in action.option_strings:
                assert option in reference, f"docs/cli.md: `mixseq {name}` lacks {option}"
    # The API reference has the core's public names.
    core = (out / "api" / "core.html").read_text(encoding="utf-8")
    import mixseq

    for name in mixseq.__all__:
        if not name.startswith("_"):
            assert f'id="mixseq.{name}"' in core, f"docs/api/core.md: mixseq.{name} is not documented"
