"""Tracking with the engine: the paper's block warm start and a one-call ``track``.

:func:`warm_start` is the MixDVAE warm start for boxes: 30-frame blocks, 20 EM iterations
each from a constant trajectory seeded by the previous block's last frame
(``extrapolate=False``, the paper's form; ``True`` continues the recent motion instead).
It wraps :func:`mixseq.initialization.block_warm_start`, which keeps the box model's
``t = 0`` prior pinned to the first frame's detections.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import torch
from torch import Tensor

from mixseq.errors import InputError
from mixseq.interfaces import Initialization
from mixseq.results import FitResult
from mixseq_mot.observation import BoxObservationModel

__all__ = ["TrackingResult", "track", "warm_start"]


def _tensors(obs: Any, obs_mask: Any, time_mask: Any) -> tuple[Tensor, Tensor]:
    obs_t = torch.as_tensor(np.asarray(obs) if not isinstance(obs, Tensor) else obs)
    if obs_t.dim() != 4:
        raise InputError(f"obs: expected dims (batch, time, obs, 4), got {tuple(obs_t.shape)}")
    mask = torch.ones(obs_t.shape[:3], dtype=torch.bool) if obs_mask is None else torch.as_tensor(obs_mask)
    if time_mask is not None:
        mask = mask & torch.as_tensor(time_mask).unsqueeze(-1)
    return obs_t, mask.to(obs_t.device)


def warm_start(
    engine: Any,
    obs: Any,
    obs_mask: Any = None,
    time_mask: Any = None,
    *,
    n_sources: int,
    block_size: int = 30,
    iterations: int = 20,
    extrapolate: bool = False,
    generator: torch.Generator | int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Initialization:
    """The paper's block-by-block warm start; returns an :class:`Initialization` for ``engine.run``.

    ``engine``: a :class:`mixseq.Engine` whose observation model is a
    :class:`BoxObservationModel`. ``obs``: shape ``(batch, time, obs, 4)``; masks as in
    :meth:`mixseq.Engine.run`.
    """
    from mixseq.initialization import block_warm_start

    model = engine.observation_model
    if not isinstance(model, BoxObservationModel):
        raise InputError(f"warm_start: expected an engine with a BoxObservationModel, got {type(model).__name__}")
    return block_warm_start(
        engine, obs, obs_mask, time_mask, n_sources=n_sources, block_size=block_size, iterations=iterations,
        extrapolate=extrapolate, generator=generator, device=device, dtype=dtype,
    )


@attrs.frozen(kw_only=True, eq=False)
class TrackingResult:
    """Track boxes from one fit.

    ``boxes``: the posterior means ``m_tn``, normalised ``xyxy``, shape
    ``(batch, time, source, 4)``; ``box_mask``: ``(batch, time, source)`` (every source
    emits a box on every valid frame); ``fit``: the engine's :class:`FitResult`.
    ``start``: with several starts (:class:`~mixseq_mot.presets.Tracker`), the index of the
    start kept per sequence, shape ``(batch,)``; ``reseeded``: where re-seeding lost
    sources raised the ELBO, shape ``(batch,)``; ``variance_scale``: the factor on the
    dynamics' predictive variance chosen per sequence, shape ``(batch,)``.
    """

    boxes: Tensor
    box_mask: Tensor
    fit: FitResult
    start: Tensor | None = None
    reseeded: Tensor | None = None
    variance_scale: Tensor | None = None


def track(
    engine: Any,
    obs: Any,
    obs_mask: Any = None,
    time_mask: Any = None,
    *,
    n_sources: int,
    init: str = "warm-start",
    generator: torch.Generator | int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    **warm_start_options: Any,
) -> TrackingResult:
    """Fit ``engine`` to detections and return the track boxes.

    ``init``: ``"warm-start"`` (the paper's, :func:`warm_start`), or one of the box model's
    own initialisations (``"first-frame"``, ``"link"``).
    ``obs``: shape ``(batch, time, obs, 4)``.
    """
    model = engine.observation_model
    if init == "warm-start":
        start = warm_start(engine, obs, obs_mask, time_mask, n_sources=n_sources, generator=generator,
                           device=device, dtype=dtype, **warm_start_options)
    elif isinstance(model, BoxObservationModel):
        obs_t, mask = _tensors(obs, obs_mask, time_mask)
        obs_t = obs_t.to(device=device, dtype=dtype or (obs_t.dtype if obs_t.is_floating_point() else None))
        start = model.initialize(obs_t, mask.to(obs_t.device), n_sources, generator=None, method=init)  # type: ignore[arg-type]
    else:
        raise InputError(f"init: expected 'warm-start', 'first-frame' or 'link', got {init!r}")
    fit = engine.run(obs, obs_mask, time_mask, n_sources=n_sources, init=start, generator=generator,
                     device=device, dtype=dtype)
    box_mask = fit.time_mask.unsqueeze(-1).expand(-1, -1, n_sources)
    return TrackingResult(boxes=fit.posterior.mean, box_mask=box_mask, fit=fit)
