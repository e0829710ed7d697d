"""Sphinx configuration of the mixseq documentation (Markdown pages through MyST).

Build: ``make docs`` (or ``sphinx-build -W -b html docs docs/_build/html``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import mixseq

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "mixseq"
author = "the mixseq developers"
copyright = "the mixseq developers, MIT licence"
release = mixseq.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "mixseq_cli",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
# examples/ holds scripts and the sample plugin (shown with literalinclude, not pages of
# their own); the test modules and conftest are Python, not pages either.
exclude_patterns = ["_build", "examples", "**/__pycache__", "**/.pytest_cache"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_mock_imports: list[str] = []

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = f"mixseq {release}"
html_theme_options = {
    "description": "Mixtures of sequence models, fitted by variational EM",
    "fixed_sidebar": True,
    "page_width": "1240px",
    "sidebar_width": "230px",
}



_PARAMETER_SECTIONS = {"Parameters", "Other Parameters"}
_PARAMETER_HEADER = re.compile(r"^\*{0,2}\w+(\s*,\s*\*{0,2}\w+)*\s*(:.*)?$")


def _free_text_after_parameters(app: object, what: str, name: str, obj: object, options: object,
                                lines: list[str]) -> None:
    """Give free text written after a numpydoc ``Parameters`` section a ``Notes`` heading.

    numpydoc wants such text in a section of its own; written straight after the last
    parameter it is read by napoleon as more parameter names, which renders as nonsense
    and breaks the ``-W`` build. A line at the section's indentation that cannot be a
    parameter header (``name``, ``a, b`` or ``name : type``) starts a ``Notes`` section.
    Runs before napoleon.
    """
    section = None
    index = 0
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.strip() and following.strip() and set(following.strip()) == {"-"}:
            section = line.strip()
            index += 2
            continue
        if (section in _PARAMETER_SECTIONS and line and not line[0].isspace()
                and not _PARAMETER_HEADER.match(line.strip())):
            lines[index:index] = ["Notes", "-----"]
            section = "Notes"
            index += 2
        index += 1


def setup(app: object) -> None:
    """Hooks of this configuration."""
    app.connect("autodoc-process-docstring", _free_text_after_parameters, priority=400)  # type: ignore[attr-defined]
