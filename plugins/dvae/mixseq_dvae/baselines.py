"""The VKF baseline: the core's linear-Gaussian dynamics, with a box preset fitted to data.

``vkf()`` builds :class:`mixseq.builtins.LinearGaussianDynamicsModel` (exact Kalman
smoother as E-S step). With ``preset="mot"`` it is a constant-velocity model per box
coordinate whose velocity-noise variances are the maximum-likelihood values on the
synthetic pre-training trajectories (:func:`fit_linear_gaussian`); any keyword overrides
the preset.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from mixseq.errors import InputError, PluginError, ShapeError

__all__ = ["VKF_MOT_PRESET", "fit_linear_gaussian", "linear_gaussian_one_step_nll", "vkf"]

#: Constant-velocity preset for boxes ``(x1, y1, x2, y2)`` in image-normalised units, fitted by
#: :func:`fit_linear_gaussian` (order 2) on the 20 k synthetic training trajectories of
#: ``srnn-mot`` (``python -m mixseq_dvae.evaluate --data boxes.pt --fit-vkf``). Unlike the
#: scale-free DVAEs, these variances are in image-normalised units: they suit images and frame
#: rates like MOT17's 1920×1080 at 30 fps.
VKF_MOT_PRESET: dict[str, Any] = {
    "order": 2,
    "process_variance": (2.57e-7, 5.28e-8, 2.57e-7, 5.31e-8),
    "initial_variance": 1e-2,
    "state_dim": 4,
}


def vkf(*, preset: str | None = "mot", **kwargs: Any) -> Any:
    """A :class:`mixseq.builtins.LinearGaussianDynamicsModel` (VKF dynamics).

    ``preset="mot"``: the constant-velocity box preset :data:`VKF_MOT_PRESET`;
    ``preset=None``: the core's defaults. ``kwargs`` go to the constructor and override the
    preset (``order``, ``process_variance``, ``initial_variance``, ``initial_mean``,
    ``state_dim``).
    """
    try:
        from mixseq.builtins import LinearGaussianDynamicsModel
    except ImportError as exc:  # an older core without the built-in model
        raise PluginError(f"vkf needs mixseq.builtins.LinearGaussianDynamicsModel: {exc}") from exc
    if preset not in (None, "mot"):
        raise InputError(f"preset: expected 'mot' or None, got {preset!r}")
    values: dict[str, Any] = dict(VKF_MOT_PRESET) if preset == "mot" else {}
    if preset == "mot" and "state_dim" in kwargs and kwargs["state_dim"] != 4:
        raise InputError(f"preset 'mot' is for 4-D boxes; got state_dim={kwargs['state_dim']}")
    values.update(kwargs)
    if isinstance(values.get("process_variance"), (tuple, list)):
        values["process_variance"] = torch.tensor(values["process_variance"], dtype=torch.float64)
    return LinearGaussianDynamicsModel(**values)


def _check(x: Tensor) -> None:
    if x.dim() != 3 or x.shape[1] < 3:
        raise ShapeError(f"x: expected dims (n_seq, time >= 3, state), got {tuple(x.shape)}")


def fit_linear_gaussian(x: Tensor, *, order: int = 2) -> dict[str, Tensor]:
    """Maximum-likelihood noise variances of a per-coordinate linear-Gaussian model.

    With exactly observed states, ``order=1`` (random walk) predicts ``x_t ~ N(x_{t-1}, q)``
    and ``order=2`` (constant velocity, noise on the velocity) predicts
    ``x_t ~ N(2x_{t-1} − x_{t-2}, q)`` for ``t ≥ 2`` and ``x_1 ~ N(x_0, v0)``; the ML ``q`` is
    the mean squared first (second) difference, ``v0`` the mean squared first difference.

    ``x``: shape ``(n_seq, time, state)``. Returns ``process_variance`` and
    ``initial_variance``, each shape ``(state,)``.
    """
    _check(x)
    x = x.double()
    first = x[:, 1:] - x[:, :-1]
    v0 = first[:, 0].square().mean(0)
    if order == 1:
        q = first.square().mean((0, 1))
    elif order == 2:
        q = (first[:, 1:] - first[:, :-1]).square().mean((0, 1))
    else:
        raise InputError(f"order: expected 1 or 2, got {order!r}")
    return {"process_variance": q, "initial_variance": v0}


def linear_gaussian_one_step_nll(
    x: Tensor, *, order: int, process_variance: Tensor, initial_variance: Tensor | float
) -> Tensor:
    """One-step-ahead predictive NLL ``-log p(x_t | x_{<t})`` per sequence and step.

    Exactly observed states (see :func:`fit_linear_gaussian`); step 0 is not predicted (NaN).
    ``x``: shape ``(n_seq, time, state)``. Returns shape ``(n_seq, time)``, summed over state.
    """
    _check(x)
    x = x.double()
    q = torch.as_tensor(process_variance, dtype=torch.float64)
    v0 = torch.as_tensor(initial_variance, dtype=torch.float64)
    mean = torch.empty_like(x)
    var = torch.empty_like(x)
    mean[:, 1:] = x[:, :-1]
    var[:, 1:] = q
    if order == 2:
        mean[:, 2:] = 2 * x[:, 1:-1] - x[:, :-2]
        var[:, 1] = v0
    nll = 0.5 * (math.log(2 * math.pi) + torch.log(var) + (x - mean).square() / var)
    out = nll.sum(-1)
    out[:, 0] = float("nan")
    return out
