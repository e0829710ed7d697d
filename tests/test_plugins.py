"""The plugin system: entry points, duplicates, broken plugins, misspelled hooks, by-name use."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mixseq import PluginError, PluginWarning, create_component, registry
from mixseq.plugins import installed_plugins, reset_plugins

PLUGIN_SOURCE = '''
import torch
import mixseq
from mixseq.builtins import LinearGaussianDynamicsModel


class DampedDynamicsModel(LinearGaussianDynamicsModel):
    """A random walk by another name, enough to be found and used."""


@mixseq.hookimpl
def register_dynamics_models(register):
    register("damped_walk", DampedDynamicsModel)
'''


def _write_package(root: Path, name: str, module_source: str) -> Path:
    package = root / name
    (package / f"{name}_pkg").mkdir(parents=True)
    (package / f"{name}_pkg" / "__init__.py").write_text(module_source)
    (package / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name.replace('_', '-')}"
        version = "0.3.1"
        dependencies = ["mixseq"]

        [project.entry-points.mixseq]
        {name} = "{name}_pkg"
    """))
    return package


def test_an_installed_package_registers_dynamics_used_by_name(tmp_path: Path) -> None:
    package = _write_package(tmp_path, "mixseq_testplugin", PLUGIN_SOURCE)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", str(package)]
    subprocess.run(pip, check=True)
    try:
        listing = subprocess.run([sys.executable, "-m", "mixseq.cli", "plugins", "--json"], check=True,
                                 capture_output=True, text=True).stdout
        plugins = {entry["name"]: entry for entry in json.loads(listing)}
        assert plugins["mixseq-testplugin"]["version"] == "0.3.1"
        assert plugins["mixseq-testplugin"]["components"]["dynamics_models"] == ["damped_walk"]
        script = textwrap.dedent("""
            import torch
            from mixseq import Engine, create_component
            from mixseq.simulate import crossing_sources
            data = crossing_sources(n_batch=2, n_steps=10, n_sources=2, generator=torch.Generator().manual_seed(0))
            engine = Engine(observation_model=create_component("observation_models", "gaussian", obs_dim=2),
                            dynamics=create_component("dynamics_models", "damped_walk", process_variance=0.01),
                            max_iterations=3)
            result = engine.fit(data.obs, data.obs_mask, n_sources=2)
            print(type(engine.dynamics[0]).__name__, dict(result.sizes)["source"])
        """)
        out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
        assert out.split() == ["DampedDynamicsModel", "2"]
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", "mixseq-testplugin"], check=True)


@pytest.fixture
def fake_entry_points(monkeypatch, tmp_path):
    """Add modules written by the test as entry points next to the real ones."""
    real = importlib.metadata.entry_points
    extra: list[importlib.metadata.EntryPoint] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def add(name: str, source: str) -> None:
        (tmp_path / f"{name}.py").write_text(source)
        extra.append(importlib.metadata.EntryPoint(name=name, value=name, group="mixseq"))

    def entry_points(**kwargs):
        found = real(**kwargs)
        if kwargs.get("group") == "mixseq":
            return importlib.metadata.EntryPoints([*found, *extra])
        return found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    reset_plugins()
    yield add
    reset_plugins()


def test_a_broken_plugin_warns_and_everything_else_works(fake_entry_points) -> None:
    fake_entry_points("broken_plugin", "raise RuntimeError('boom')\n")
    with pytest.warns(PluginWarning, match=r"'broken_plugin'.*RuntimeError: boom"):
        names = registry("dynamics_models")
    assert "linear_gaussian" in names


def test_a_misspelled_hook_fails_loudly(fake_entry_points) -> None:
    fake_entry_points("typo_plugin", "import mixseq\n@mixseq.hookimpl\ndef register_dynamic_models(register):\n"
                                     "    pass\n")
    with pytest.raises(PluginError, match=r"unknown hook.*register_dynamic_models"):
        registry("dynamics_models")


def test_a_name_registered_twice_names_both_owners(fake_entry_points) -> None:
    fake_entry_points("dupe_plugin", "import mixseq\n@mixseq.hookimpl\ndef register_dynamics_models(register):\n"
                                     "    register('linear_gaussian', object)\n")
    with pytest.raises(PluginError, match=r"'linear_gaussian' is registered twice: by mixseq and by dupe_plugin"):
        registry("dynamics_models")


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(PluginError, match=r"unknown dynamics model 'srn'; known: .*linear_gaussian"):
        create_component("dynamics_models", "srn")
    with pytest.raises(PluginError, match=r"kind: expected one of"):
        registry("dynamics")  # type: ignore[arg-type]


def test_builtins_arrive_through_the_entry_point() -> None:
    core = next(info for info in installed_plugins() if info.name == "mixseq")
    assert core.entry_point == "core"
    assert core.components == {"observation_models": ["gaussian"], "assignment_priors": ["uniform"],
                               "dynamics_models": ["linear_gaussian"]}
    prior = create_component("assignment_priors", "uniform")
    assert type(prior).__name__ == "UniformAssignmentPrior"
