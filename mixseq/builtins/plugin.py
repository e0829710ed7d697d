"""Registers the built-in components through the same entry-point path as any plugin."""

from __future__ import annotations

from typing import Any

from mixseq.builtins import GaussianObservationModel, LinearGaussianDynamicsModel, UniformAssignmentPrior
from mixseq.hookspecs import hookimpl


@hookimpl
def register_observation_models(register: Any) -> None:
    register("gaussian", GaussianObservationModel)


@hookimpl
def register_assignment_priors(register: Any) -> None:
    register("uniform", UniformAssignmentPrior)


@hookimpl
def register_dynamics_models(register: Any) -> None:
    register("linear_gaussian", LinearGaussianDynamicsModel)
