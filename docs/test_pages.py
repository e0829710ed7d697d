"""Every page's examples run as written: python and console blocks in order, per page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent
#: Pages whose examples need a fixture of their own run in their own test module.
OWN_TEST = {"writing-a-plugin.md": "test_sample_plugin.py"}
PAGES = sorted(p for p in DOCS.glob("*.md") if p.name not in OWN_TEST)


def _has_examples(page: Path) -> bool:
    return re.search(r"^`{3,}(python|console)\s*$", page.read_text(encoding="utf-8"), re.MULTILINE) is not None


@pytest.mark.parametrize("page", [p for p in PAGES if _has_examples(p)], ids=lambda p: p.name)
def test_page_examples_run(page: Path, run_page) -> None:
    run_page(page)


def test_every_page_with_examples_is_run_somewhere() -> None:
    pages = {p.name for p in DOCS.glob("*.md") if _has_examples(p)}
    assert pages <= {p.name for p in PAGES} | set(OWN_TEST)
    for name, module in OWN_TEST.items():
        assert name in (DOCS / module).read_text(encoding="utf-8"), f"{module} must run {name}"
