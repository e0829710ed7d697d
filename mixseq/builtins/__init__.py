"""Components that ship with the core, so that mixseq can be used and tested alone."""

from mixseq.builtins.gaussian import GaussianObservationModel, first_frame_initialization
from mixseq.builtins.linear_gaussian import LinearGaussianDynamicsModel
from mixseq.builtins.uniform import UniformAssignmentPrior

__all__ = [
    "GaussianObservationModel",
    "LinearGaussianDynamicsModel",
    "UniformAssignmentPrior",
    "first_frame_initialization",
]
