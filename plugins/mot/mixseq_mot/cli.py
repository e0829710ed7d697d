"""The plugin's subcommands: ``evaluate-tracks``, ``build-mot3t``, ``track`` and ``track-mot3t``."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from mixseq_mot.presets import Tracker, TrackingPreset

logger = logging.getLogger(__name__)

__all__ = [
    "configure_build_mot3t",
    "configure_evaluate",
    "configure_track",
    "configure_track_mot3t",
    "run_build_mot3t",
    "run_evaluate",
    "run_track",
    "run_track_mot3t",
]

EVALUATE_HELP = "score tracker output against MOTChallenge ground truth (py-motmetrics, IoU 0.5)"
BUILD_HELP = "build the paper's 3-target MOT-3T data sets from a MOTChallenge training folder"


def configure_evaluate(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mixseq evaluate-tracks``."""
    parser.add_argument("--gt", required=True, type=Path,
                        help="gt.txt, a sequence folder, or a folder of sequence folders")
    parser.add_argument("--pred", required=True, type=Path,
                        help="tracker output file, or a folder of <sequence>.txt files")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU needed for a match (default 0.5)")
    parser.add_argument("--no-hota", action="store_true", help="skip HOTA even when trackeval is installed")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (overall row; fractions, not percentages)")


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``mixseq evaluate-tracks``; prints the table or the JSON object."""
    from mixseq_mot.evaluate import evaluate_paths

    evaluation = evaluate_paths(args.gt, args.pred, iou_threshold=args.iou, hota=False if args.no_hota else None)
    if args.json:
        print(json.dumps(evaluation.to_json_dict()))
    else:
        print(evaluation.to_text())
    return 0


def configure_build_mot3t(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mixseq build-mot3t``."""
    parser.add_argument("root", type=Path, help="folder of sequence folders (e.g. MOT17/train) or one sequence")
    parser.add_argument("--output-dir", type=Path, required=True, help="where mot3t_T<length>.npz are written")
    parser.add_argument("--lengths", type=int, nargs="+", default=[60, 120, 300], help="window lengths")
    parser.add_argument("--stride", type=int, default=40, help="frames between window starts (default 40)")
    parser.add_argument("--triplets", type=int, default=20, help="random triplets per window (default 20)")
    parser.add_argument("--detector", default=None,
                        help="only folders named *-DETECTOR (the paper: SDP); default all folders")
    parser.add_argument("--det-file", default="det/det.txt", help="detections inside each sequence folder")
    parser.add_argument("--min-visibility", type=float, default=0.0, help="ground-truth visibility needed")
    parser.add_argument("--seed", type=int, default=0, help="seed of the triplet draws")


def run_build_mot3t(args: argparse.Namespace) -> int:
    """Run ``mixseq build-mot3t``; prints one line per data set."""
    from mixseq_mot.mot3t import Mot3TConfig, build_mot3t, write_mot3t

    config = Mot3TConfig(lengths=tuple(args.lengths), stride=args.stride, n_triplets=args.triplets,
                         min_visibility=args.min_visibility)
    generator = torch.Generator().manual_seed(args.seed)
    datasets = build_mot3t(args.root, config=config, detector=args.detector, det_file=args.det_file,
                           generator=generator)
    for length, dataset in datasets.items():
        path = write_mot3t(dataset, args.output_dir / f"mot3t_T{length}.npz")
        print(f"T={length}: {dataset.n_windows} windows, {len(dataset)} sequences -> {path}")
    return 0


# --------------------------------------------------------------------------- tracking

TRACK_HELP = "track the boxes of MOTChallenge sequence folders and write MOTChallenge files"
TRACK_MOT3T_HELP = "track every sample of a MOT-3T data set (.npz) and print the paper's metrics"


def _configure_engine(parser: argparse.ArgumentParser) -> None:
    from mixseq_mot.presets import PRESETS
    from mixseq_mot.recovery import START_METHODS

    parser.add_argument("--preset", default="default", choices=sorted(PRESETS),
                        help="tracking preset (default: default; paper: the released MixDVAE settings)")
    parser.add_argument("--dynamics", default=None,
                        help="registered dynamics model (default: srnn with the shipped checkpoint, else vkf; "
                             "see `mixseq plugins`)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint of the dynamics model (name or file)")
    parser.add_argument("--dynamics-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="keyword argument for the dynamics model (repeatable; values parsed as Python literals)")
    parser.add_argument("--init", nargs="+", default=None, choices=START_METHODS, metavar="START",
                        help=f"initialisation(s) instead of the preset's; several: best final ELBO per sequence "
                             f"({', '.join(START_METHODS)})")
    parser.add_argument("--reseed", action=argparse.BooleanOptionalAction, default=None,
                        help="re-seed lost sources after the fit (default: as the preset)")
    parser.add_argument("--iterations", type=int, default=None, help="maximum EM iterations (default: the preset's)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="stop when the relative ELBO change stays below this (default: the preset's)")
    parser.add_argument("--patience", type=int, default=None, help="iterations below --tolerance before stopping")
    parser.add_argument("--std-ratio", type=float, default=None, help="observation noise / box size (preset: 0.04)")
    parser.add_argument("--assignment-scale", type=float, default=None,
                        help="E-W temperature (1 exact; the paper preset uses 0.008)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    parser.add_argument("--device", default=None, help="torch device (default cpu)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's; 1 is fastest for a few short sequences)")
    parser.add_argument("--json", action="store_true", help="print the overall metrics as one JSON object")


def _dynamics_kwargs(pairs: list[str]) -> dict[str, object]:
    import ast

    from mixseq.errors import InputError

    kwargs: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--dynamics-arg: expected KEY=VALUE, got {pair!r}")
        try:
            kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kwargs[key] = value
    return kwargs


def _preset(args: argparse.Namespace) -> TrackingPreset:
    """The chosen preset with the command-line overrides applied."""
    import attrs

    from mixseq.errors import InputError
    from mixseq_mot.presets import get_preset

    preset = get_preset(args.preset)
    changes: dict[str, Any] = {}
    em: dict[str, Any] = {}
    for flag, key, target in (("init", "starts", changes), ("reseed", "reseed", changes),
                              ("std_ratio", "std_ratio", changes), ("assignment_scale", "assignment_scale", changes),
                              ("iterations", "max_iterations", em), ("tolerance", "tolerance", em),
                              ("patience", "patience", em)):
        value = getattr(args, flag)
        if value is not None:
            target[key] = tuple(value) if isinstance(value, list) else value
    if "max_iterations" in em and preset.em.min_iterations > int(em["max_iterations"]):
        em["min_iterations"] = em["max_iterations"]
    try:
        if em:
            changes["em"] = attrs.evolve(preset.em, **em)
        return attrs.evolve(preset, **changes)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"invalid tracking option: {exc}") from exc


def _tracker(args: argparse.Namespace) -> Tracker:
    from mixseq.errors import InputError
    from mixseq_mot.presets import make_tracker

    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads: expected an integer >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)

    return make_tracker(_preset(args), dynamics=args.dynamics, checkpoint=args.checkpoint,
                        dynamics_options=_dynamics_kwargs(args.dynamics_arg))


def configure_track(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mixseq track``."""
    parser.add_argument("sequences", type=Path, nargs="+", help="sequence folders (seqinfo.ini, det/det.txt)")
    parser.add_argument("--output-dir", type=Path, required=True, help="where <sequence>.txt files go")
    parser.add_argument("--n-sources", type=int, required=True, help="number of tracked objects N")
    parser.add_argument("--det-file", default="det/det.txt", help="detections inside each folder")
    parser.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("WIDTH", "HEIGHT"),
                        help="image size in pixels for folders without seqinfo.ini")
    parser.add_argument("--min-score", type=float, default=None, help="drop detections scored below")
    parser.add_argument("--plot", action="store_true", help="also write <sequence>.png")
    _configure_engine(parser)


def run_track(args: argparse.Namespace) -> int:
    """Run ``mixseq track``: read and check every input, fit all sequences as one batch, then write.

    Nothing is written unless every sequence was read and tracked; every file is written
    atomically. See :func:`mixseq_mot.inputs.read_track_input` for how inputs are checked.
    """
    from mixseq.errors import InputError
    from mixseq_mot.evaluate import evaluate_sequences
    from mixseq_mot.inputs import read_track_input
    from mixseq_mot.io import batch_sequences, read_mot_file, write_tracks
    from mixseq_mot.plotting import plot_tracks

    if args.n_sources < 1:
        raise InputError(f"--n-sources: expected an integer >= 1, got {args.n_sources}")
    if args.output_dir.exists() and not args.output_dir.is_dir():
        raise InputError(f"--output-dir: {args.output_dir} exists and is not a folder")
    inputs = [read_track_input(p, det_file=args.det_file, image_size=args.image_size, min_score=args.min_score,
                               n_sources=args.n_sources) for p in args.sequences]
    names = [item.name for item in inputs]
    if len(set(names)) != len(names):
        raise InputError(f"sequences: two inputs have the same name, their outputs would collide: {names}")
    tracker = _tracker(args)  # before any fitting: a bad option or checkpoint fails fast
    batch = batch_sequences([item.padded for item in inputs], dtype=torch.float64)
    result = tracker.track(batch.obs, batch.obs_mask, batch.time_mask, n_sources=args.n_sources,
                           generator=args.seed, device=args.device)
    boxes = result.boxes.detach().cpu()
    logger.info("tracked %d sequence(s) in %d EM iterations", len(inputs), result.fit.n_iterations)
    scored = {}
    for b, item in enumerate(inputs):  # writing: one file per sequence
        n_steps = item.padded.obs.shape[0]
        name = item.name
        out = write_tracks(args.output_dir / f"{name}.txt", boxes[b, :n_steps], width=item.width, height=item.height)
        logger.info("wrote %s", out)
        if args.plot:
            plot_tracks(args.output_dir / f"{name}.png", boxes[b, :n_steps], detections=item.padded.obs,
                        detection_mask=item.padded.obs_mask, title=name)
        if item.ground_truth is not None:
            scored[name] = (item.ground_truth, read_mot_file(out))
    if scored:
        evaluation = evaluate_sequences(scored)
        print(json.dumps(evaluation.to_json_dict()) if args.json else evaluation.to_text())
    return 0


def configure_track_mot3t(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mixseq track-mot3t``."""
    parser.add_argument("dataset", type=Path, help="a mot3t_T<length>.npz from `mixseq build-mot3t`")
    parser.add_argument("--batch-size", type=int, default=256, help="samples fitted together (default 256)")
    parser.add_argument("--limit", type=int, default=None, help="only the first LIMIT samples")
    _configure_engine(parser)


def run_track_mot3t(args: argparse.Namespace) -> int:
    """Run ``mixseq track-mot3t``: N = 3 sources per sample, metrics over all samples."""
    import numpy as np

    from mixseq.errors import InputError
    from mixseq.progress import progress
    from mixseq_mot.evaluate import evaluate_arrays
    from mixseq_mot.mot3t import load_mot3t

    if args.batch_size < 1:
        raise InputError(f"--batch-size: expected an integer >= 1, got {args.batch_size}")
    data = load_mot3t(args.dataset)
    obs, mask = data.tensors(torch.float64)
    n = len(data) if args.limit is None else min(args.limit, len(data))
    if n <= 0:
        raise InputError(f"{args.dataset}: the data set has no samples")
    tracker = _tracker(args)
    n_sources = data.gt_boxes.shape[2]
    chunks, iterations = [], []
    starts = range(0, n, args.batch_size)
    for start in progress(starts, desc="MOT-3T", enabled=not args.quiet):
        stop = min(start + args.batch_size, n)
        res = tracker.track(obs[start:stop], mask[start:stop], n_sources=n_sources, generator=args.seed + start,
                            device=args.device)
        chunks.append(res.boxes.detach().cpu().numpy())
        iterations.append(res.fit.n_iterations)
    names = [f"{s}:{f}:{i}" for i, (s, f) in enumerate(zip(data.sequence[:n], data.start_frame[:n], strict=True))]
    evaluation = evaluate_arrays(data.gt_boxes[:n], np.concatenate(chunks), gt_mask=data.gt_mask[:n],
                                 gt_ids=data.gt_ids[:n], names=names)
    if args.json:
        print(json.dumps({**evaluation.to_json_dict(), "em_iterations": iterations}))
    else:
        print(evaluation.to_text().splitlines()[0])
        print(evaluation.to_text().splitlines()[-1])
        print(f"EM iterations per batch: {iterations}")
    return 0
