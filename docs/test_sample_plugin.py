"""The plugin tutorial's sample package, installed into this environment and used as a user would.

The package in ``docs/examples/sample_plugin`` is copied to a temporary folder, installed
with pip (no dependencies, no build isolation: everything it needs is already here), and
uninstalled at the end of the module, whatever happens. In between: ``mixseq plugins --json``
lists it, the engine uses its model by name, mixseq's conformance suite runs on the model,
and the examples of ``writing-a-plugin.md`` run in order (including the plugin's own tests).
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from mixseq.plugins import reset_plugins
from mixseq.testing import DynamicsModelConformance

DOCS = Path(__file__).resolve().parent
SAMPLE = DOCS / "examples" / "sample_plugin"
PAGE = DOCS / "writing-a-plugin.md"
DISTRIBUTION, MODULE, NAME = "mixseq-damped-walk", "mixseq_damped_walk", "damped_random_walk"


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False)


def _forget() -> None:
    for name in [m for m in sys.modules if m == MODULE or m.startswith(f"{MODULE}.")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    reset_plugins()


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The sample plugin installed from a copy; yields the folder that holds the copy."""
    workdir = tmp_path_factory.mktemp("plugin-tutorial")
    package = workdir / DISTRIBUTION
    shutil.copytree(SAMPLE, package, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    done = _pip("install", "--quiet", "--no-deps", "--no-build-isolation", str(package))
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"
    _forget()
    try:
        yield workdir
    finally:
        _pip("uninstall", "--quiet", "--yes", DISTRIBUTION)
        _forget()


def test_listed_by_mixseq_plugins(installed_plugin: Path) -> None:
    listing = subprocess.run([sys.executable, "-m", "mixseq.cli", "plugins", "--json"], capture_output=True,
                             text=True, check=True).stdout
    plugins = {entry["name"]: entry for entry in json.loads(listing)}
    assert plugins[DISTRIBUTION]["version"] == "0.1.0"
    assert plugins[DISTRIBUTION]["entry_point"] == "damped_walk"
    assert plugins[DISTRIBUTION]["components"]["dynamics_models"] == [NAME]


def test_used_by_name_through_the_engine(installed_plugin: Path) -> None:
    from mixseq import Engine, create_component, registry
    from mixseq.simulate import crossing_sources

    assert registry("dynamics_models")[NAME].plugin == DISTRIBUTION
    data = crossing_sources(n_batch=2, n_steps=20, n_sources=2, generator=torch.Generator().manual_seed(0))
    engine = Engine(observation_model=create_component("observation_models", "gaussian", obs_dim=2),
                    dynamics=create_component("dynamics_models", NAME, damping=0.9), max_iterations=3)
    result = engine.fit(data.obs, data.obs_mask, n_sources=2, generator=0)
    assert type(engine.dynamics[0]).__name__ == "DampedRandomWalkDynamicsModel"
    assert result.sizes["source"] == 2 and "DampedRandomWalkDynamicsModel" in result.attrs["config"]


@pytest.mark.usefixtures("installed_plugin")
class TestSamplePluginConformance(DynamicsModelConformance):
    """mixseq's conformance suite on the installed model, created by name."""

    state_dim = 3

    def make_model(self):
        from mixseq import create_component

        return create_component("dynamics_models", NAME, damping=0.8, process_variance=0.05)


def test_writing_a_plugin_page_runs(installed_plugin: Path, page_tools, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tutorial's examples, in order, next to the installed copy (as the page says)."""
    monkeypatch.chdir(installed_plugin)
    blocks = page_tools["runnable_blocks"](PAGE)
    assert any(b.language == "python" for b in blocks) and any(b.language == "console" for b in blocks)
    page_tools["run_blocks"](blocks, installed_plugin)


def test_the_page_shows_the_package_files() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for path in ("mixseq_damped_walk/__init__.py", "pyproject.toml", "tests/test_damped_walk.py"):
        assert f"examples/sample_plugin/{path}" in text
        assert (SAMPLE / path).is_file()
