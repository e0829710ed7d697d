"""The walk-through scripts in docs/examples run at small sizes (their ``main(argv)``, in this process)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent
EXAMPLES = DOCS / "examples"


def _run(script: str, *args: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``script``'s ``main(argv)`` in this process (no new interpreter: torch is imported already)."""
    spec = importlib.util.spec_from_file_location(f"docs_example_{Path(script).stem}", EXAMPLES / script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(list(args)) == 0
    return capsys.readouterr().out


def test_compose_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run("compose_engine.py", "--batch", "3", "--steps", "30", "--output-dir", str(tmp_path / "out"),
               capsys=capsys)
    assert "assignment accuracy" in out
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"fit.nc", "elbo.png", "tracks.png"}


def test_make_figures_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run("make_figures.py", "--small", "--output-dir", str(tmp_path), capsys=capsys)
    written = {p.name for p in tmp_path.glob("*.png")}
    assert {"core-tracks.png", "core-elbo.png"} <= written
    if "skipped the real-sequence figures" not in out:  # the MOT15 data is optional
        assert {"tracks-tud-stadtmitte.png", "elbo-tud-stadtmitte.png"} <= written


def test_make_figures_without_data_skips_the_real_sequence(tmp_path: Path, capsys) -> None:
    spec = importlib.util.spec_from_file_location("docs_example_make_figures", EXAMPLES / "make_figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.real_sequence_figures(tmp_path, tmp_path / "none", small=True) == []
    assert "skipped the real-sequence figures" in capsys.readouterr().out


def test_the_committed_figures_are_the_ones_the_pages_show() -> None:
    figures = DOCS / "_static" / "figures"
    shown = set()
    for page in DOCS.rglob("*.md"):
        shown |= set(re.findall(r"_static/figures/([\w.-]+\.png)", page.read_text(encoding="utf-8")))
    assert shown, "the pages show no figure"
    missing = {name for name in shown if not (figures / name).is_file()}
    assert not missing, f"pages show figures that docs/_static/figures lacks: {sorted(missing)}"
    for path in figures.glob("*.png"):
        assert path.stat().st_size < 300_000, f"{path.name} is too large to commit"
