"""The tracking part of ``mixseq demo``: three real pedestrians of TUD-Campus.

The ground truth of TUD-Campus (MOTChallenge 2015) ships inside the ``motmetrics`` wheel
(``motmetrics/data/TUD-Campus/gt.txt``). The demo takes the first 60 frames and the three
people visible in all of them, simulates detections from their true boxes
(:func:`mixseq_mot.simulate.simulate_detections`: 5 % jitter, 15 % misses, no false
alarms), tracks them with the ``default`` preset and the shipped SRNN (VKF when no SRNN
checkpoint is installed), scores the tracks with py-motmetrics, and saves a plot and the
tracks.
"""

from __future__ import annotations

import logging
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from mixseq.errors import CheckpointError, InputError, PluginError
from mixseq_mot.boxes import ltwh_to_normalized_xyxy
from mixseq_mot.evaluate import evaluate_arrays
from mixseq_mot.io import read_mot_file, to_padded, write_tracks
from mixseq_mot.plotting import plot_tracks
from mixseq_mot.presets import Tracker, make_tracker
from mixseq_mot.simulate import DetectionNoise, simulate_detections

__all__ = ["campus_ground_truth", "run_tracking_demo"]

logger = logging.getLogger(__name__)

WIDTH, HEIGHT, N_FRAMES, N_PEOPLE = 640, 480, 60, 3


def campus_ground_truth() -> Path:
    """The TUD-Campus ``gt.txt`` inside the installed ``motmetrics`` package."""
    path = Path(str(resources.files("motmetrics") / "data" / "TUD-Campus" / "gt.txt"))
    if not path.is_file():
        raise InputError(f"{path}: the TUD-Campus ground truth of motmetrics is not installed")
    return path


def _tracker(preset: str) -> tuple[Tracker, str]:
    """The preset with the shipped SRNN, or VKF when no SRNN checkpoint is installed."""
    try:
        return make_tracker(preset, dynamics="srnn"), "srnn (shipped checkpoint srnn-mot)"
    except (CheckpointError, PluginError) as exc:
        logger.debug("no SRNN: %s", exc)
        return make_tracker(preset, dynamics="vkf"), "vkf (no SRNN checkpoint installed)"


def run_tracking_demo(output_dir: Path, quiet: bool) -> None:
    """Track three TUD-Campus pedestrians from simulated detections; print metrics, save a plot."""
    threads = torch.get_num_threads()
    # One sequence means tensors of a few elements: extra threads only add synchronisation.
    torch.set_num_threads(1)
    try:
        _run(output_dir)
    finally:
        torch.set_num_threads(threads)


def _run(output_dir: Path) -> None:
    gt = read_mot_file(campus_ground_truth())
    gt = gt.select(gt.frame <= N_FRAMES)
    ids, counts = np.unique(gt.track_id, return_counts=True)
    people = ids[counts == N_FRAMES][:N_PEOPLE]  # visible in every frame
    gt = gt.select(np.isin(gt.track_id, people))
    noise = DetectionNoise(detect_probability=0.85, jitter=0.05, false_alarm_rate=0.0)
    detections = simulate_detections(gt, width=WIDTH, height=HEIGHT, n_frames=N_FRAMES, noise=noise,
                                     generator=torch.Generator().manual_seed(0))
    padded = to_padded(detections, width=WIDTH, height=HEIGHT, n_frames=N_FRAMES, name="TUD-Campus")
    obs = torch.as_tensor(padded.obs).unsqueeze(0)
    mask = torch.as_tensor(padded.obs_mask).unsqueeze(0)
    truth = ltwh_to_normalized_xyxy(gt.ltwh, WIDTH, HEIGHT).reshape(N_FRAMES, len(people), 4)  # sorted frame, id
    print(f"tracking demo: TUD-Campus frames 1-{N_FRAMES}, people {people.tolist()}, "
          f"{int(mask.sum())} simulated detections ({100 * (1 - float(mask.sum()) / (N_FRAMES * len(people))):.0f} % "
          f"missed, 5 % jitter)")
    tracker, described = _tracker("default")
    start = time.perf_counter()
    result = tracker.track(obs, mask, n_sources=len(people), generator=0)
    seconds = time.perf_counter() - start
    boxes = result.boxes[0].numpy()
    scores = evaluate_arrays(truth[None], boxes[None], gt_ids=people[None], hota=False).overall
    print(f"  default preset, {described}: MOTA {scores['mota']:.3f}, IDF1 {scores['idf1']:.3f}, "
          f"ID switches {scores['num_switches']}, {result.fit.n_iterations} EM iterations, {seconds:.1f} s")
    plot = plot_tracks(output_dir / "tracking-tud-campus.png", boxes, detections=padded.obs,
                       detection_mask=padded.obs_mask, ground_truth=truth,
                       title="TUD-Campus: simulated detections, default preset tracks, ground truth")
    tracks = write_tracks(output_dir / "tracking-tud-campus.txt", boxes, width=WIDTH, height=HEIGHT)
    print(f"  plot: {plot}; tracks (MOTChallenge format): {tracks}")
    print("  (the released MixDVAE settings: `mixseq track ... --preset paper`)")
