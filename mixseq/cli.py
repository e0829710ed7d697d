"""The ``mixseq`` command. Plugins add subcommands through the ``register_commands`` hook."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from mixseq.errors import MixseqError, PluginWarning
from mixseq.plugins import get_plugin_manager, installed_plugins

__all__ = ["CommandRegistry", "build_parser", "main"]

logger = logging.getLogger(__name__)

DemoRunner = Callable[[Path, bool], None]


@attrs.define
class _Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    plugin: str


class CommandRegistry:
    """What ``register_commands(cli)`` receives: ``cli.add_command`` and ``cli.add_demo``."""

    def __init__(self) -> None:
        self.commands: dict[str, _Command] = {}
        self.demos: dict[str, tuple[DemoRunner, str]] = {}
        self._plugin = "mixseq"

    def add_command(
        self,
        name: str,
        *,
        help: str,
        configure: Callable[[argparse.ArgumentParser], None],
        run: Callable[[argparse.Namespace], int],
    ) -> None:
        """Add ``mixseq NAME``: ``configure(parser)`` adds arguments, ``run(args)`` does the work."""
        if name in self.commands:
            raise MixseqError(f"command {name!r} is added twice: by {self.commands[name].plugin} and by {self._plugin}")
        self.commands[name] = _Command(name=name, help=help, configure=configure, run=run, plugin=self._plugin)

    def add_demo(self, name: str, run: DemoRunner) -> None:
        """Add a part to ``mixseq demo``: ``run(output_dir, quiet)``."""
        self.demos[name] = (run, self._plugin)


def _collect_commands() -> CommandRegistry:
    from mixseq.plugins import _load

    registry = CommandRegistry()
    _core_commands(registry)
    manager, loaded = _load()
    owners = {id(plugin.module): plugin.distribution for plugin in loaded}
    for impl in manager.hook.register_commands.get_hookimpls():
        registry._plugin = owners.get(id(impl.plugin), getattr(impl.plugin, "__name__", "unknown"))
        try:
            impl.function(cli=registry)
        except Exception as exc:  # one broken plugin must not take the command down
            warnings.warn(f"{registry._plugin}: its commands could not be added: {type(exc).__name__}: {exc}",
                          PluginWarning, stacklevel=2)
    return registry


def _core_commands(registry: CommandRegistry) -> None:
    registry.add_command("plugins", help="list installed plugins and what they register",
                         configure=_configure_plugins, run=lambda args: _run_plugins(args, registry))
    registry.add_command("demo", help="run the demos (core, then each plugin's) and save plots",
                         configure=_configure_demo, run=lambda args: _run_demo(args, registry))


def _configure_plugins(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def _run_plugins(args: argparse.Namespace, registry: CommandRegistry) -> int:
    owners = {name: command.plugin for name, command in registry.commands.items()}
    infos = installed_plugins(owners)
    if args.json:
        print(json.dumps([attrs.asdict(info) for info in infos], indent=2))
        return 0
    print(f"{'plugin':<16} {'version':<12} registered")
    for info in infos:
        parts = [f"{kind}: {', '.join(names)}" for kind, names in info.components.items() if names]
        if info.commands:
            parts.append(f"commands: {', '.join(info.commands)}")
        print(f"{info.name:<16} {info.version:<12} {'; '.join(parts) or '-'}")
    return 0


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output-dir", type=Path, default=Path("demo-output"),
                        help="folder for the plots and outputs (default: demo-output)")
    parser.add_argument("--only", action="append", default=None,
                        help="run only the named demo part (repeatable)")


def _run_demo(args: argparse.Namespace, registry: CommandRegistry) -> int:
    from mixseq.demo import run_core_demo

    parts: dict[str, DemoRunner] = {"core": run_core_demo}
    parts.update({name: runner for name, (runner, _) in registry.demos.items()})
    selected = args.only or list(parts)
    unknown = sorted(set(selected) - set(parts))
    if unknown:
        raise MixseqError(f"--only: unknown demo {', '.join(unknown)}; known: {', '.join(parts)}")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name in selected:
        print(f"== demo: {name} ==")
        parts[name](args.output_dir, args.quiet)
    return 0


def build_parser() -> tuple[argparse.ArgumentParser, CommandRegistry]:
    """The argument parser with every core and plugin subcommand."""
    registry = _collect_commands()
    parser = argparse.ArgumentParser(prog="mixseq", description="Mixtures of sequence models (MixDVAE).")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in sorted(registry.commands):
        command = registry.commands[name]
        child = sub.add_parser(name, help=command.help, description=command.help)
        child.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
        try:
            command.configure(child)
        except (argparse.ArgumentError, ValueError, TypeError) as exc:
            warnings.warn(f"command {name!r} from {command.plugin} is skipped: its arguments are invalid: {exc}",
                          PluginWarning, stacklevel=2)
            sub._name_parser_map.pop(name, None)
            continue
        child.set_defaults(_run=command.run)
    return parser, registry


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mixseq`` command; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        get_plugin_manager()
        parser, _ = build_parser()
        args = parser.parse_args(argv)
        if not hasattr(args, "quiet"):
            args.quiet = False
        args.quiet = args.quiet or not sys.stderr.isatty()
        if args.command is None:
            parser.print_help()
            return 2
        return int(args._run(args))
    except MixseqError as exc:
        print(f"mixseq: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mixseq: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
