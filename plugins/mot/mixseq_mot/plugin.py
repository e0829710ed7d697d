"""Entry point of the ``mixseq-mot`` plugin (group ``mixseq``, name ``mot``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mixseq.hookspecs import hookimpl
from mixseq_mot.cli import (
    BUILD_HELP,
    EVALUATE_HELP,
    TRACK_HELP,
    TRACK_MOT3T_HELP,
    configure_build_mot3t,
    configure_evaluate,
    configure_track,
    configure_track_mot3t,
    run_build_mot3t,
    run_evaluate,
    run_track,
    run_track_mot3t,
)
from mixseq_mot.observation import BoxObservationModel
from mixseq_mot.priors import SinkhornAssignmentPrior


@hookimpl
def register_observation_models(register: Any) -> None:
    """``box``: :class:`~mixseq_mot.observation.BoxObservationModel`."""
    register("box", BoxObservationModel)


@hookimpl
def register_assignment_priors(register: Any) -> None:
    """``sinkhorn``: :class:`~mixseq_mot.priors.SinkhornAssignmentPrior` (one-to-one per frame)."""
    register("sinkhorn", SinkhornAssignmentPrior)


def run_tracking_demo(output_dir: Path, quiet: bool) -> None:
    """The ``tracking`` part of ``mixseq demo`` (see :mod:`mixseq_mot.demo`)."""
    from mixseq_mot.demo import run_tracking_demo as run

    run(output_dir, quiet)


@hookimpl
def register_commands(cli: Any) -> None:
    """``mixseq evaluate-tracks``, ``build-mot3t``, ``track``, ``track-mot3t``; the ``tracking`` demo."""
    cli.add_demo("tracking", run_tracking_demo)
    cli.add_command("evaluate-tracks", help=EVALUATE_HELP, configure=configure_evaluate, run=run_evaluate)
    cli.add_command("build-mot3t", help=BUILD_HELP, configure=configure_build_mot3t, run=run_build_mot3t)
    cli.add_command("track", help=TRACK_HELP, configure=configure_track, run=run_track)
    cli.add_command("track-mot3t", help=TRACK_MOT3T_HELP, configure=configure_track_mot3t, run=run_track_mot3t)
