"""Sphinx extension: the ``mixseq`` command reference, generated from the command itself.

The directive ``mixseq-cli`` calls :func:`mixseq.cli.build_parser` at build time — the same
parser that ``mixseq`` builds, with every installed plugin's subcommands — and renders the
top-level help and each subcommand's ``format_help()`` as one section per command. The
reference therefore cannot drift from the code: a new option or command appears at the next
build.

In a Markdown page::

    ```{mixseq-cli}
    ```
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

#: Help is wrapped by argparse at the terminal width; fix it so that builds are reproducible.
HELP_WIDTH = 90


@contextlib.contextmanager
def _columns(width: int) -> Iterator[None]:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """``{name: (parser, help line)}`` of the parser's subcommands, sorted by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            return {name: (child, helps.get(name, "")) for name, child in sorted(action.choices.items())}
    return {}


def command_help(width: int = HELP_WIDTH) -> tuple[str, dict[str, tuple[str, str, str]]]:
    """The top-level help and ``{command: (summary, plugin, full help)}`` of every subcommand.

    Nested subcommands (``mixseq audio-corpus speech``) are included under their full name,
    after their parent, with their own help line and the parent's plugin.
    """
    from mixseq.cli import build_parser

    with _columns(width):
        parser, registry = build_parser()
        top = parser.format_help()
        commands: dict[str, tuple[str, str, str]] = {}
        for name, (child, _) in _subcommands(parser).items():
            plugin = registry.commands[name].plugin
            pending = [(name, child, registry.commands[name].help)]
            while pending:
                full, current, summary = pending.pop(0)
                commands[full] = (summary, plugin, current.format_help())
                pending.extend((f"{full} {sub}", grandchild, line or summary)
                               for sub, (grandchild, line) in _subcommands(current).items())
    return top, commands


class MixseqCliDirective(SphinxDirective):
    """``mixseq-cli``: one section per subcommand with its generated ``--help``."""

    has_content = False
    required_arguments = 0

    def run(self) -> list[nodes.Node]:
        # The page depends on code, not on its source: read it again at every build.
        self.env.note_reread()
        top, commands = command_help()
        result: list[nodes.Node] = [self._section("mixseq", "the command and its global options", "mixseq", top)]
        for name, (summary, plugin, text) in commands.items():
            result.append(self._section(f"mixseq {name}", summary, plugin, text))
        return result

    def _section(self, title: str, summary: str, plugin: str, text: str) -> nodes.section:
        section_id = nodes.make_id(title)
        section = nodes.section(ids=[section_id], names=[nodes.fully_normalize_name(title)])
        section += nodes.title(title, "", nodes.literal(title, title))
        paragraph = nodes.paragraph()
        paragraph += nodes.Text(f"{summary[:1].upper()}{summary[1:]}. Added by ")
        paragraph += nodes.literal(plugin, plugin)
        paragraph += nodes.Text(".")
        section += paragraph
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        section += block
        self.state.document.note_implicit_target(section, section)
        return section


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directive."""
    app.add_directive("mixseq-cli", MixseqCliDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
