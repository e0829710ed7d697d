"""Every hook is documented in docs/hooks.md with its exact signature (datasette's test_docs.py style)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from mixseq import hookspecs

HOOKS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"
HEADING = re.compile(r"^## `(?P<name>register_\w+)\((?P<params>[^)]*)\)`$", re.MULTILINE)


def _hook_specs() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(function)
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, f"{hookspecs.PROJECT_NAME}_spec")
    }


def _documented() -> dict[str, list[str]]:
    text = HOOKS_PAGE.read_text(encoding="utf-8")
    return {m["name"]: [p.strip() for p in m["params"].split(",") if p.strip()] for m in HEADING.finditer(text)}


def test_the_hook_specs_are_found() -> None:
    assert {"register_observation_models", "register_assignment_priors", "register_dynamics_models",
            "register_commands"} <= set(_hook_specs())


@pytest.mark.parametrize("hook", sorted(_hook_specs()))
def test_every_hook_is_documented_with_its_signature(hook: str) -> None:
    documented = _documented()
    assert hook in documented, f"docs/hooks.md has no section '## `{hook}(...)`'"
    expected = list(_hook_specs()[hook].parameters)
    assert documented[hook] == expected, (
        f"docs/hooks.md documents {hook}({', '.join(documented[hook])}), the spec is {hook}({', '.join(expected)})"
    )
    label = f"(hook-{hook.replace('_', '-')})="
    assert label in HOOKS_PAGE.read_text(encoding="utf-8"), f"docs/hooks.md: add the label {label} before the section"


def test_no_documented_hook_is_unknown() -> None:
    unknown = set(_documented()) - set(_hook_specs())
    assert not unknown, f"docs/hooks.md documents hooks that mixseq/hookspecs.py does not define: {sorted(unknown)}"
