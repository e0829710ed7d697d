"""mixseq-mot: multi-object tracking of boxes with mixseq (MixDVAE's tracking domain).

Boxes are ``(x1, y1, x2, y2)`` normalised by each sequence's own image width and height.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mixseq-mot")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0.0.0+unknown"

from mixseq_mot.evaluate import Evaluation, evaluate_arrays, evaluate_paths, evaluate_sequences
from mixseq_mot.io import (
    BoxBatch,
    MotRecords,
    MotSequence,
    PaddedBoxes,
    SequenceInfo,
    batch_sequences,
    read_mot_file,
    read_seqinfo,
    read_sequence,
    to_padded,
    write_mot_file,
    write_tracks,
)
from mixseq_mot.linking import link_detections
from mixseq_mot.mot3t import Mot3TConfig, Mot3TDataset, build_mot3t, load_mot3t, write_mot3t
from mixseq_mot.observation import BoxObservationModel
from mixseq_mot.plotting import plot_tracks
from mixseq_mot.presets import PRESETS, Tracker, TrackingPreset, get_preset, make_tracker, make_tracking_engine
from mixseq_mot.priors import SinkhornAssignmentPrior
from mixseq_mot.recovery import multi_start, reseed_lost_sources
from mixseq_mot.simulate import DetectionNoise, simulate_detections
from mixseq_mot.tracking import TrackingResult, track, warm_start

__all__ = [
    "PRESETS",
    "BoxBatch",
    "BoxObservationModel",
    "DetectionNoise",
    "Evaluation",
    "Mot3TConfig",
    "Mot3TDataset",
    "MotRecords",
    "MotSequence",
    "PaddedBoxes",
    "SequenceInfo",
    "SinkhornAssignmentPrior",
    "Tracker",
    "TrackingPreset",
    "TrackingResult",
    "__version__",
    "batch_sequences",
    "build_mot3t",
    "evaluate_arrays",
    "evaluate_paths",
    "evaluate_sequences",
    "get_preset",
    "link_detections",
    "load_mot3t",
    "make_tracker",
    "make_tracking_engine",
    "multi_start",
    "plot_tracks",
    "read_mot_file",
    "read_seqinfo",
    "read_sequence",
    "reseed_lost_sources",
    "simulate_detections",
    "to_padded",
    "track",
    "warm_start",
    "write_mot3t",
    "write_mot_file",
    "write_tracks",
]
