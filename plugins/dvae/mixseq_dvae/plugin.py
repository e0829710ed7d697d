"""Entry point of mixseq-dvae: registers the dynamics models and ``train-dynamics``.

Registered dynamics models (``mixseq.create_component("dynamics_models", NAME, **kwargs)``):

``srnn``     :class:`~mixseq_dvae.dynamics.SRNNDynamicsModel` (default ``checkpoint="srnn-mot"``)
``vrnn``     :class:`~mixseq_dvae.dynamics.VRNNDynamicsModel` (``checkpoint=`` or ``config=``)
``dkf``      :class:`~mixseq_dvae.dynamics.DKFDynamicsModel` (``checkpoint=`` or ``config=``)
``deep_ar``  :class:`~mixseq_dvae.dynamics.DeepARDynamicsModel` (default ``checkpoint="deep_ar-mot"``)
``vkf``      the core's linear-Gaussian model (exact Kalman smoother), see :func:`vkf`
"""

from __future__ import annotations

from typing import Any

from mixseq.hookspecs import hookimpl
from mixseq_dvae import cli as train_cli
from mixseq_dvae.baselines import vkf
from mixseq_dvae.dynamics import (
    DeepARDynamicsModel,
    DKFDynamicsModel,
    SRNNDynamicsModel,
    VRNNDynamicsModel,
)

__all__ = ["register_commands", "register_dynamics_models"]


@hookimpl
def register_dynamics_models(register: Any) -> None:
    """Register ``srnn``, ``vrnn``, ``dkf``, ``vkf`` and ``deep_ar``."""
    register("srnn", SRNNDynamicsModel)
    register("vrnn", VRNNDynamicsModel)
    register("dkf", DKFDynamicsModel)
    register("vkf", vkf)
    register("deep_ar", DeepARDynamicsModel)


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``mixseq train-dynamics``."""
    cli.add_command("train-dynamics", help=train_cli.HELP, configure=train_cli.configure, run=train_cli.run)
