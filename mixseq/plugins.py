"""The plugin manager: loads entry points, validates hooks, builds the component registry.

Everything, built-ins included, arrives through the entry-point group ``mixseq``. A plugin
that fails to import becomes a :class:`~mixseq.errors.PluginWarning`; a misspelled hook
implementation or a name registered twice is a :class:`~mixseq.errors.PluginError`.
"""

from __future__ import annotations

import functools
import importlib.metadata
import types
import warnings
from collections.abc import Callable
from typing import Any, Literal

import attrs
import pluggy

from mixseq import hookspecs
from mixseq.errors import PluginError, PluginWarning

__all__ = [
    "COMPONENT_KINDS",
    "ComponentKind",
    "PluginInfo",
    "Registration",
    "create_component",
    "get_plugin_manager",
    "installed_plugins",
    "registry",
    "reset_plugins",
]

ENTRY_POINT_GROUP = "mixseq"
ComponentKind = Literal["observation_models", "assignment_priors", "dynamics_models"]
COMPONENT_KINDS: tuple[ComponentKind, ...] = ("observation_models", "assignment_priors", "dynamics_models")
_HOOK_OF_KIND = {kind: f"register_{kind}" for kind in COMPONENT_KINDS}


@attrs.frozen(kw_only=True)
class Registration:
    """One registered component: its name, factory and the distribution that owns it."""

    name: str
    kind: str
    factory: Callable[..., Any]
    plugin: str
    version: str


@attrs.frozen(kw_only=True)
class PluginInfo:
    """An installed plugin (one entry point) and what it registered."""

    name: str
    version: str
    entry_point: str
    module: str
    components: dict[str, list[str]]
    commands: list[str]


@attrs.frozen(kw_only=True)
class _LoadedPlugin:
    distribution: str
    version: str
    entry_point: str
    module: types.ModuleType


def _distribution_of(entry_point: importlib.metadata.EntryPoint) -> tuple[str, str]:
    dist = entry_point.dist
    if dist is None:
        return entry_point.name, "unknown"
    return dist.metadata["Name"], dist.version


@functools.cache
def _load() -> tuple[pluggy.PluginManager, tuple[_LoadedPlugin, ...]]:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    loaded: list[_LoadedPlugin] = []
    entry_points = sorted(
        importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name != "core", ep.name)
    )
    for entry_point in entry_points:
        distribution, version = _distribution_of(entry_point)
        try:
            module = entry_point.load()
        except Exception as exc:
            warnings.warn(
                f"mixseq plugin {entry_point.name!r} from {distribution} could not be loaded and is "
                f"skipped: {type(exc).__name__}: {exc}",
                PluginWarning,
                stacklevel=2,
            )
            continue
        if manager.is_registered(module):
            continue
        manager.register(module, name=f"{distribution}:{entry_point.name}")
        loaded.append(_LoadedPlugin(distribution=distribution, version=version,
                                    entry_point=entry_point.name, module=module))
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"a mixseq plugin implements an unknown hook (misspelled?): {exc}") from exc
    return manager, tuple(loaded)


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, loaded on first use."""
    return _load()[0]


def reset_plugins() -> None:
    """Forget loaded plugins so the next call re-reads the entry points (after installs)."""
    _load.cache_clear()
    _registries.cache_clear()


def _owner(module: object) -> _LoadedPlugin:
    for plugin in _load()[1]:
        if plugin.module is module:
            return plugin
    return _LoadedPlugin(distribution=getattr(module, "__name__", "unknown"), version="unknown",
                         entry_point="", module=module)  # type: ignore[arg-type]


@functools.cache
def _registries() -> dict[str, dict[str, Registration]]:
    manager = get_plugin_manager()
    result: dict[str, dict[str, Registration]] = {}
    for kind, hook_name in _HOOK_OF_KIND.items():
        entries: dict[str, Registration] = {}
        for impl in getattr(manager.hook, hook_name).get_hookimpls():
            owner = _owner(impl.plugin)

            def register(name: str, factory: Callable[..., Any], *, _owner: _LoadedPlugin = owner,
                         _kind: str = kind, _entries: dict[str, Registration] = entries) -> None:
                if not isinstance(name, str) or not name:
                    raise PluginError(f"{_owner.distribution}: a {_kind} name must be a non-empty string, got {name!r}")
                if not callable(factory):
                    raise PluginError(f"{_owner.distribution}: the factory of {_kind} {name!r} is not callable")
                if name in _entries:
                    raise PluginError(
                        f"{_kind} {name!r} is registered twice: by {_entries[name].plugin} and by "
                        f"{_owner.distribution}"
                    )
                _entries[name] = Registration(name=name, kind=_kind, factory=factory,
                                              plugin=_owner.distribution, version=_owner.version)

            impl.function(register=register)
        result[kind] = entries
    return result


def registry(kind: ComponentKind) -> dict[str, Registration]:
    """Every registered component of ``kind``, by name.

    ``kind`` is one of ``"observation_models"``, ``"assignment_priors"``,
    ``"dynamics_models"``.
    """
    if kind not in COMPONENT_KINDS:
        raise PluginError(f"kind: expected one of {', '.join(COMPONENT_KINDS)}, got {kind!r}")
    return dict(_registries()[kind])


def create_component(kind: ComponentKind, name: str, /, **kwargs: Any) -> Any:
    """Build the component registered as ``name`` with keyword arguments.

    >>> from mixseq.plugins import create_component
    >>> create_component("assignment_priors", "uniform")
    UniformAssignmentPrior()
    """
    entries = registry(kind)
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise PluginError(f"unknown {kind[:-1].replace('_', ' ')} {name!r}; known: {known}")
    return entries[name].factory(**kwargs)


def installed_plugins(commands: dict[str, str] | None = None) -> list[PluginInfo]:
    """One :class:`PluginInfo` per loaded entry point.

    ``commands`` maps command names to the distribution that added them (from the CLI).
    """
    infos = []
    regs = _registries()
    for plugin in _load()[1]:
        components: dict[str, list[str]] = {
            kind: sorted(name for name, reg in regs[kind].items() if reg.plugin == plugin.distribution)
            for kind in COMPONENT_KINDS
        }
        owned = sorted(name for name, owner in (commands or {}).items() if owner == plugin.distribution)
        infos.append(PluginInfo(name=plugin.distribution, version=plugin.version, entry_point=plugin.entry_point,
                                module=plugin.module.__name__, components=components, commands=owned))
    return infos


def plugin_versions() -> dict[str, str]:
    """``{distribution: version}`` of every loaded plugin (for provenance)."""
    return {plugin.distribution: plugin.version for plugin in _load()[1]}
