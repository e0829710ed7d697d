"""Shared machinery of the documentation tests: code blocks of the Markdown pages, run in order.

A page's fenced blocks are run top to bottom in one temporary working directory:

* `` ```python `` blocks are executed in one namespace per page, like cells of a notebook;
* `` ```console `` blocks are shell sessions: every line that starts with ``$ `` is a command
  (a trailing ``\\`` continues it on the next line), run with ``bash`` in the same directory,
  with this interpreter's ``bin`` folder first on ``PATH`` (so ``mixseq``, ``pip`` and
  ``python`` are the ones under test); it must exit with status 0. A plain ``mixseq ...``
  command is run in this process through ``mixseq.cli.main`` — what the ``mixseq`` script
  calls — to save an interpreter start per command;
* other blocks (``bash`` for installation steps, ``text`` for output, ``toml``, directives) are
  shown, not run.

A MyST comment line ``% docs-test: skip`` right before a block leaves that block out.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

#: Not pages or tests: scripts and the sample plugin are run by their own tests; _build is output.
collect_ignore = ["examples", "_build", "_ext", "conf.py"]

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
SKIP_MARKER = "% docs-test: skip"
RUN_LANGUAGES = ("python", "console")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docs_build: builds the documentation with sphinx-build -W (tens of seconds)")


@attrs.frozen
class CodeBlock:
    """One fenced block of a Markdown page."""

    page: Path
    line: int
    language: str
    code: str
    skip: bool

    @property
    def where(self) -> str:
        return f"{self.page.name}:{self.line}"


def code_blocks(page: Path) -> list[CodeBlock]:
    """Every fenced block of ``page`` in order (nested fences of longer outer fences included as text)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[CodeBlock] = []
    skip_next = False
    index = 0
    while index < len(lines):
        line = lines[index]
        match = _FENCE.match(line)
        if line.strip() == SKIP_MARKER:
            skip_next = True
        elif match:
            fence = match["fence"]
            info = match["info"].strip()
            body: list[str] = []
            index += 1
            while index < len(lines) and not (
                lines[index].startswith(fence[0] * len(fence)) and set(lines[index].strip()) == {fence[0]}
            ):
                body.append(lines[index])
                index += 1
            language = info.split()[0] if info else ""
            blocks.append(CodeBlock(page=page, line=index - len(body) + 1, language=language, code="\n".join(body),
                                    skip=skip_next))
            skip_next = False
        elif line.strip():
            skip_next = False
        index += 1
    return blocks


def runnable_blocks(page: Path) -> list[CodeBlock]:
    """The blocks of ``page`` that the tests run."""
    return [b for b in code_blocks(page) if b.language in RUN_LANGUAGES and not b.skip]


def console_commands(code: str) -> Iterator[str]:
    """The ``$ `` commands of a console block, continuation lines joined."""
    pending: str | None = None
    for raw in code.splitlines():
        if pending is not None:
            pending += "\n" + raw
            if not raw.rstrip().endswith("\\"):
                yield pending
                pending = None
            continue
        if raw.startswith("$ "):
            command = raw[2:]
            if command.rstrip().endswith("\\"):
                pending = command
            else:
                yield command
    if pending is not None:
        yield pending


def shell_environment() -> dict[str, str]:
    """The environment of console commands: this interpreter's tools first, no display, quiet."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["MPLBACKEND"] = "Agg"
    env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    return env


def run_blocks(blocks: list[CodeBlock], workdir: Path, namespace: dict[str, object] | None = None) -> None:
    """Run ``blocks`` in order in ``workdir`` (the caller makes it the working directory)."""
    namespace = {"__name__": "__docs__"} if namespace is None else namespace
    env = shell_environment()
    for block in blocks:
        if block.language == "python":
            try:
                exec(compile(block.code, block.where, "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"the python block at {block.where} failed: {type(exc).__name__}: {exc}") from exc
        elif block.language == "console":
            for command in console_commands(block.code):
                done = run_mixseq_in_process(command)
                if done is None:
                    completed = subprocess.run(["bash", "-c", command], cwd=workdir, env=env, capture_output=True,
                                               text=True, timeout=600, check=False)
                    done = (completed.returncode, completed.stdout, completed.stderr)
                status, stdout, stderr = done
                assert status == 0, (
                    f"the command at {block.where} failed with status {status}: {command}\n"
                    f"--- stdout\n{stdout[-3000:]}\n--- stderr\n{stderr[-3000:]}"
                )


def run_mixseq_in_process(command: str) -> tuple[int, str, str] | None:
    """Run a plain ``mixseq ...`` command through :func:`mixseq.cli.main` in this process.

    The ``mixseq`` script is exactly ``mixseq.cli:main``; calling it here saves a new
    interpreter and the import of torch and every plugin per command (seconds each). Returns
    ``(status, stdout, stderr)``, or ``None`` for anything else (other programs, shell
    syntax), which then runs in ``bash``. The working directory is the current one.
    """
    command = command.replace("\\\n", " ")  # continuation lines
    if any(token in command for token in ("&&", "||", "|", ";", ">", "<", "$(", "`", "\n")):
        return None
    argv = shlex.split(command)
    if not argv or argv[0] != "mixseq":
        return None
    from mixseq.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv[1:])
        except SystemExit as exc:  # argparse: --help or a usage error
            status = exc.code if isinstance(exc.code, int) else 1
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def run_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """``run_page(page)``: run the page's python and console blocks in order in a temporary directory."""

    def run(page: Path) -> None:
        blocks = runnable_blocks(page)
        assert blocks, f"{page.name} has no runnable example"
        workdir = tmp_path / page.stem
        workdir.mkdir()
        monkeypatch.chdir(workdir)
        run_blocks(blocks, workdir)

    return run


@pytest.fixture(scope="session")
def page_tools() -> dict[str, Callable[..., object]]:
    """The page machinery for tests that set up their own working directory."""
    return {"runnable_blocks": runnable_blocks, "run_blocks": run_blocks, "code_blocks": code_blocks}
