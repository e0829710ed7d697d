"""The registry of network classes, keyed by model name."""

from __future__ import annotations

from mixseq.errors import InputError
from mixseq_dvae.base import SequenceNetwork
from mixseq_dvae.config import DVAEConfig
from mixseq_dvae.deep_ar import DeepAR
from mixseq_dvae.srnn import SRNN
from mixseq_dvae.vrnn import DKF, VRNN

__all__ = ["MODEL_NAMES", "NETWORK_CLASSES", "build_network"]

NETWORK_CLASSES: dict[str, type[SequenceNetwork]] = {cls.name: cls for cls in (SRNN, VRNN, DKF, DeepAR)}
MODEL_NAMES: tuple[str, ...] = tuple(NETWORK_CLASSES)


def build_network(config: DVAEConfig) -> SequenceNetwork:
    """A freshly initialised network for ``config`` (its class decides the model)."""
    model = type(config).model
    if model not in NETWORK_CLASSES:
        raise InputError(f"config: expected a config of one of {MODEL_NAMES}, got {type(config).__name__}")
    return NETWORK_CLASSES[model](config)  # type: ignore[arg-type]
