"""mixseq: mixtures of sequence models fitted by variational EM (MixDVAE and beyond)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mixseq")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from mixseq.engine import EMConfig, Engine
from mixseq.errors import (
    CheckpointError,
    InputError,
    InputWarning,
    MixseqError,
    MixseqWarning,
    PluginError,
    PluginWarning,
    ShapeError,
)
from mixseq.hookspecs import hookimpl
from mixseq.initialization import block_warm_start, trajectory_initialization
from mixseq.interfaces import (
    AssignmentPrior,
    DynamicsModel,
    DynamicsResult,
    Gaussian,
    GaussianMessage,
    Initialization,
    ObservationModel,
)
from mixseq.plugins import create_component, registry
from mixseq.results import FitResult, load_result, save_result

__all__ = [
    "AssignmentPrior",
    "CheckpointError",
    "DynamicsModel",
    "DynamicsResult",
    "EMConfig",
    "Engine",
    "FitResult",
    "Gaussian",
    "GaussianMessage",
    "Initialization",
    "InputError",
    "InputWarning",
    "MixseqError",
    "MixseqWarning",
    "ObservationModel",
    "PluginError",
    "PluginWarning",
    "ShapeError",
    "__version__",
    "block_warm_start",
    "create_component",
    "hookimpl",
    "load_result",
    "registry",
    "save_result",
    "trajectory_initialization",
]
