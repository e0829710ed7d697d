"""mixseq-dvae: dynamical VAEs (SRNN, VRNN, DKF), Deep AR and VKF dynamics for mixseq."""

from mixseq_dvae._version import __version__
from mixseq_dvae.baselines import vkf
from mixseq_dvae.checkpoint import (
    Checkpoint,
    load_checkpoint,
    load_pretrained,
    pretrained_names,
    save_checkpoint,
)
from mixseq_dvae.config import DeepARConfig, DKFConfig, SRNNConfig, VRNNConfig
from mixseq_dvae.dynamics import (
    DeepARDynamicsModel,
    DKFDynamicsModel,
    DVAEDynamicsModel,
    SRNNDynamicsModel,
    VRNNDynamicsModel,
)
from mixseq_dvae.models import build_network
from mixseq_dvae.training import TrainingConfig, load_training_data, train_dynamics

__all__ = [
    "Checkpoint",
    "DKFConfig",
    "DKFDynamicsModel",
    "DVAEDynamicsModel",
    "DeepARConfig",
    "DeepARDynamicsModel",
    "SRNNConfig",
    "SRNNDynamicsModel",
    "TrainingConfig",
    "VRNNConfig",
    "VRNNDynamicsModel",
    "__version__",
    "build_network",
    "load_checkpoint",
    "load_pretrained",
    "load_training_data",
    "pretrained_names",
    "save_checkpoint",
    "train_dynamics",
    "vkf",
]
