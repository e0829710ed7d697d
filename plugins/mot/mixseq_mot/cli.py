"""The plugin's subcommands: ``evaluate-tracks``, ``build-mot3t``, ``track`` and ``track-mot3t``."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from mixseq import Engine

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
#: Settings that make the core's linear-Gaussian model sensible on normalised boxes.
_DYNAMICS_DEFAULTS: dict[str, dict[str, object]] = {"linear_gaussian": {"order": 2, "process_variance": 1e-6}}


def _configure_engine(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dynamics", default="srnn",
                        help="registered dynamics model (default srnn; see `mixseq plugins`)")
    parser.add_argument("--dynamics-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="keyword argument for the dynamics model (repeatable; values parsed as Python literals)")
    parser.add_argument("--init", default="warm-start", choices=["warm-start", "first-frame", "link"],
                        help="initialisation (default: the paper's 30-frame warm start)")
    parser.add_argument("--iterations", type=int, default=70, help="EM iterations (default 70)")
    parser.add_argument("--tolerance", type=float, default=None, help="stop when the relative ELBO change is below")
    parser.add_argument("--std-ratio", type=float, default=0.04, help="observation noise / box size (default 0.04)")
    parser.add_argument("--assignment-scale", type=float, default=1.0,
                        help="E-W temperature (1 exact; the research code used 0.008)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    parser.add_argument("--device", default=None, help="torch device (default cpu)")
    parser.add_argument("--json", action="store_true", help="print the overall metrics as one JSON object")


def _dynamics_kwargs(name: str, pairs: list[str]) -> dict[str, object]:
    import ast

    from mixseq.errors import InputError

    kwargs = dict(_DYNAMICS_DEFAULTS.get(name, {}))
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--dynamics-arg: expected KEY=VALUE, got {pair!r}")
        try:
            kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kwargs[key] = value
    return kwargs


def _engine(args: argparse.Namespace) -> Engine:
    from mixseq import Engine, create_component
    from mixseq_mot.observation import BoxObservationModel

    dynamics = create_component("dynamics_models", args.dynamics, **_dynamics_kwargs(args.dynamics, args.dynamics_arg))
    model = BoxObservationModel(std_ratio=args.std_ratio, assignment_scale=args.assignment_scale)
    return Engine(observation_model=model, dynamics=dynamics, max_iterations=args.iterations,
                  tolerance=args.tolerance)


def configure_track(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mixseq track``."""
    parser.add_argument("sequences", type=Path, nargs="+", help="sequence folders (seqinfo.ini, det/det.txt)")
    parser.add_argument("--output-dir", type=Path, required=True, help="where <sequence>.txt files go")
    parser.add_argument("--n-sources", type=int, required=True, help="number of tracked objects N")
    parser.add_argument("--det-file", default="det/det.txt", help="detections inside each folder")
    parser.add_argument("--min-score", type=float, default=None, help="drop detections scored below")
    parser.add_argument("--plot", action="store_true", help="also write <sequence>.png")
    _configure_engine(parser)


def run_track(args: argparse.Namespace) -> int:
    """Run ``mixseq track``: fit all sequences as one batch, write, and score where gt exists."""
    from mixseq_mot.evaluate import evaluate_sequences
    from mixseq_mot.io import batch_sequences, read_mot_file, read_sequence, to_padded, write_tracks
    from mixseq_mot.plotting import plot_tracks
    from mixseq_mot.tracking import track

    seqs = [read_sequence(p, detections=args.det_file, require=("detections",)) for p in args.sequences]
    padded = []
    for seq in seqs:
        det = seq.detections
        assert det is not None
        if args.min_score is not None:
            det = det.select(det.score >= args.min_score)
        padded.append(to_padded(det, width=seq.info.width, height=seq.info.height, n_frames=seq.n_frames,
                                name=seq.info.name))
    batch = batch_sequences(padded, dtype=torch.float64)
    result = track(_engine(args), batch.obs, batch.obs_mask, batch.time_mask, n_sources=args.n_sources,
                   init=args.init, generator=args.seed, device=args.device)
    boxes = result.boxes.detach().cpu()
    scored = {}
    for b, (seq, pad) in enumerate(zip(seqs, padded, strict=True)):
        n_steps = pad.obs.shape[0]
        name = seq.path.name
        out = write_tracks(args.output_dir / f"{name}.txt", boxes[b, :n_steps], width=seq.info.width,
                           height=seq.info.height)
        logger.info("wrote %s", out)
        if args.plot:
            plot_tracks(args.output_dir / f"{name}.png", boxes[b, :n_steps], detections=pad.obs,
                        detection_mask=pad.obs_mask, title=name)
        if seq.ground_truth is not None:
            scored[name] = (seq.ground_truth, read_mot_file(out))
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

    from mixseq.progress import progress
    from mixseq_mot.evaluate import evaluate_arrays
    from mixseq_mot.mot3t import load_mot3t
    from mixseq_mot.tracking import track

    data = load_mot3t(args.dataset)
    obs, mask = data.tensors(torch.float64)
    n = len(data) if args.limit is None else min(args.limit, len(data))
    if n == 0:
        from mixseq.errors import InputError

        raise InputError(f"{args.dataset}: the data set has no samples")
    engine = _engine(args)
    n_sources = data.gt_boxes.shape[2]
    chunks = []
    starts = range(0, n, args.batch_size)
    for start in progress(starts, desc="MOT-3T", enabled=not args.quiet):
        stop = min(start + args.batch_size, n)
        res = track(engine, obs[start:stop], mask[start:stop], n_sources=n_sources, init=args.init,
                    generator=args.seed + start, device=args.device)
        chunks.append(res.boxes.detach().cpu().numpy())
    names = [f"{s}:{f}:{i}" for i, (s, f) in enumerate(zip(data.sequence[:n], data.start_frame[:n], strict=True))]
    evaluation = evaluate_arrays(data.gt_boxes[:n], np.concatenate(chunks), gt_mask=data.gt_mask[:n],
                                 gt_ids=data.gt_ids[:n], names=names)
    if args.json:
        print(json.dumps(evaluation.to_json_dict()))
    else:
        print(evaluation.to_text().splitlines()[0])
        print(evaluation.to_text().splitlines()[-1])
    return 0
