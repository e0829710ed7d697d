"""The ``mixseq train-dynamics`` command (also ``python -m mixseq_dvae.cli``)."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

import torch

from mixseq_dvae.config import CONFIG_CLASSES, DVAEConfig
from mixseq_dvae.models import MODEL_NAMES

__all__ = ["HELP", "build_config", "configure", "main", "run"]

HELP = "train a dynamics network (SRNN, VRNN, DKF, Deep AR) and write a checkpoint"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``train-dynamics`` arguments to ``parser`` (``mixseq`` itself adds ``--quiet``)."""
    parser.add_argument("--model", choices=MODEL_NAMES, default="srnn", help="network to train")
    parser.add_argument("--data", required=True, help="training data file (.pt or .npz; see load_training_data)")
    parser.add_argument("--output", required=True, help="run folder (checkpoint.pt, history.csv, validation.png)")
    parser.add_argument("--preset", choices=("boxes", "audio"), default="boxes", help="size preset of the network")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a model config field (JSON value), e.g. --set normalization='\"first_box\"'",
    )
    parser.add_argument(
        "--normalization", choices=("none", "first_box"), default=None, help="input normalisation (boxes)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="maximum number of epochs (default 500)")
    parser.add_argument("--patience", type=int, default=None, help="early-stopping patience (default 50)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (boxes 1e-3, audio 2e-3)")
    parser.add_argument("--beta", type=float, default=None, help="KL weight β (boxes 1, audio 0.01)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--sampling-max", type=float, default=None, help="final scheduled-sampling probability")
    parser.add_argument(
        "--input-noise", type=float, default=None, help="denoising input noise, max std in network units (default 0)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--resume", action="store_true", help="continue the run in --output")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def build_config(model: str, preset: str, overrides: dict[str, Any]) -> DVAEConfig:
    """The config of ``model`` for ``preset`` (``"boxes"``: defaults; ``"audio"``) plus overrides."""
    cls: Any = CONFIG_CLASSES[model]
    if preset == "audio":
        return cls.audio(**overrides)
    return cls(**overrides)


def run(args: argparse.Namespace) -> int:
    """Run ``train-dynamics``; returns the exit status."""
    from mixseq_dvae.training import TrainingConfig, train_dynamics

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set: expected KEY=VALUE, got {item!r}")
        overrides[key] = _parse_value(value)
    if args.normalization is not None:
        overrides["normalization"] = args.normalization
    config = build_config(args.model, args.preset, overrides)
    defaults: dict[str, Any] = {"seed": args.seed}
    if args.preset == "audio":
        defaults.update(lr=2e-3, beta=0.01)
    if args.model == "deep_ar":
        defaults["sampling_max"] = 0.0  # a deterministic predictor is trained by teacher forcing
    for name, value in (
        ("max_epochs", args.epochs),
        ("patience", args.patience),
        ("lr", args.lr),
        ("beta", args.beta),
        ("batch_size", args.batch_size),
        ("sampling_max", args.sampling_max),
        ("input_noise", args.input_noise),
    ):
        if value is not None:
            defaults[name] = value
    training = TrainingConfig(**defaults)
    result = train_dynamics(
        config,
        args.data,
        args.output,
        training=training,
        resume=args.resume,
        progress=not getattr(args, "quiet", False),
    )
    logging.getLogger(__name__).info("wrote %s", result.checkpoint)
    print(
        f"{result.checkpoint}: validation loss {result.validation_loss:.5f} at epoch {result.best_epoch} "
        f"({result.epochs_run} epochs, stopped: {result.stopped})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m mixseq_dvae.cli --model srnn --data D --output R``."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(prog="mixseq train-dynamics", description=HELP)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
