"""The hook specifications that plugins implement.

Each hook receives a callback and calls it once per thing it provides. Mark
implementations with :data:`mixseq.hookimpl`.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT_NAME = "mixseq"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_observation_models(register: Any) -> None:
    """Register observation models: ``register("name", factory)``.

    ``factory(**kwargs)`` returns a :class:`mixseq.ObservationModel`; usually the class itself.
    """


@hookspec
def register_assignment_priors(register: Any) -> None:
    """Register assignment priors: ``register("name", factory)``.

    ``factory(**kwargs)`` returns a :class:`mixseq.AssignmentPrior`.
    """


@hookspec
def register_dynamics_models(register: Any) -> None:
    """Register dynamics models: ``register("name", factory)``.

    ``factory(**kwargs)`` returns a :class:`mixseq.DynamicsModel`.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the ``mixseq`` command.

    ``cli.add_command(name, help=..., configure=..., run=...)``: ``configure(parser)`` adds
    arguments to an :class:`argparse.ArgumentParser`; ``run(args)`` returns an exit status.
    ``cli.add_demo(name, run)`` adds a part to ``mixseq demo``: ``run(output_dir, quiet)``.
    """
