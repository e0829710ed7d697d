"""Entry point of the mixseq-audio plugin (entry-point group ``mixseq``, name ``audio``).

Registers the observation model ``stft``, the commands ``separate``, ``evaluate-separation``
and ``audio-corpus``, and the ``separation`` part of ``mixseq demo``. Only light modules are
imported here; commands import their work on use.
"""

from __future__ import annotations

from typing import Any

import mixseq
from mixseq_audio.commands import (
    EVALUATE_HELP,
    SEPARATE_HELP,
    configure_evaluate,
    configure_separate,
    run_evaluate,
    run_separate,
)
from mixseq_audio.observation import STFTObservationModel


@mixseq.hookimpl
def register_observation_models(register: Any) -> None:
    """``stft``: :class:`~mixseq_audio.observation.STFTObservationModel`."""
    register("stft", STFTObservationModel)


def _configure_corpus(parser: Any) -> None:
    from mixseq_audio.corpus import configure_parser

    configure_parser(parser)


def _run_corpus(args: Any) -> int:
    from mixseq_audio.corpus import run

    return run(args)


def _run_demo(output_dir: Any, quiet: bool) -> None:
    from mixseq_audio.demo import run_demo

    run_demo(output_dir, quiet)


@mixseq.hookimpl
def register_commands(cli: Any) -> None:
    """``separate``, ``evaluate-separation``, ``audio-corpus`` and the ``separation`` demo."""
    cli.add_command("separate", help=SEPARATE_HELP, configure=configure_separate, run=run_separate)
    cli.add_command("evaluate-separation", help=EVALUATE_HELP, configure=configure_evaluate, run=run_evaluate)
    cli.add_command(
        "audio-corpus",
        help="build speech/flute training corpora and evaluation mixtures under data/audio",
        configure=_configure_corpus,
        run=_run_corpus,
    )
    if hasattr(cli, "add_demo"):
        cli.add_demo("separation", _run_demo)
