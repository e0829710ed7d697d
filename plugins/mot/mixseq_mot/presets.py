"""Named tracking configurations: ``paper`` (the released MixDVAE behaviour) and ``default``.

A :class:`TrackingPreset` fixes everything but the dynamics: the box noise, the E-W
temperature, the assignment prior, how EM starts, when it stops, and whether lost sources
are recovered. :func:`make_tracker` combines a preset with a dynamics model into a
:class:`Tracker`; :func:`make_tracking_engine` gives the bare :class:`mixseq.Engine`.

``paper``
    Boxes ``(x1, y1, x2, y2)`` normalised by the image size; fixed ``Φ`` with standard
    deviations 4 % of the detection's width/height (``std_ratio=0.04``, no M step);
    E-W tempered by 0.008 (the released code's hidden constant); the uniform, independent
    assignment prior; the 30-frame / 20-iteration block warm start from the first frame's
    detections (constant seeds, ``extrapolate=False``); 70 EM iterations, no stopping test.

``default``
    The same box noise at temperature 1 (exact variational EM); the one-to-one Sinkhorn
    prior (a source explains at most one detection per frame, so sources cannot collapse);
    three starts per sequence (first frame, linked tracks, the paper's warm start) fitted
    in one batch, the best final ELBO kept (:func:`~mixseq_mot.recovery.multi_start`);
    lost or duplicated sources re-seeded on uncovered detections
    (:func:`~mixseq_mot.recovery.reseed_lost_sources`); EM stops once the relative ELBO
    change stays below ``1e-4`` for 3 iterations (at least 5, at most 30: the tracks hardly
    change after that, and the single-sample ELBO of an SRNN fluctuates by about 1 % per
    iteration, so its relative change rarely falls below the tolerance). The predictive
    variance of a learned model is used as trained (``variance_scales=()``; a grid turns on
    :func:`~mixseq_mot.calibration.calibrate_variance_scale`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import torch
from torch import Tensor

from mixseq.engine import EMConfig, Engine
from mixseq.errors import CheckpointError, InputError, InputWarning
from mixseq.interfaces import DynamicsModel
from mixseq.plugins import create_component, registry
from mixseq_mot.calibration import calibrate_variance_scale, combine_fits, scalable_dynamics, variance_scaled
from mixseq_mot.observation import BoxObservationModel
from mixseq_mot.recovery import START_METHODS, multi_start, reseed_lost_sources
from mixseq_mot.tracking import TrackingResult

__all__ = [
    "PRESETS",
    "Tracker",
    "TrackingPreset",
    "get_preset",
    "make_dynamics",
    "make_tracker",
    "make_tracking_engine",
]

logger = logging.getLogger(__name__)


def _starts(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    unknown = [s for s in value if s not in START_METHODS]
    if not value or unknown:
        raise InputError(f"{attribute.name}: expected one or more of {START_METHODS}, got {value!r}")


def _frozen_mapping(value: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(k): dict(v) for k, v in value.items()}


def _as_dict(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


def _as_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@attrs.frozen(kw_only=True)
class TrackingPreset:
    """Every tracking setting except the dynamics model.

    ``std_ratio``: box noise standard deviation / box size. ``assignment_scale``: E-W
    temperature (1 exact). ``prior``: a registered assignment prior (``"uniform"``,
    ``"sinkhorn"``) with ``prior_options``. ``starts``: initialisations (see
    :data:`~mixseq_mot.recovery.START_METHODS`); more than one runs
    :func:`~mixseq_mot.recovery.multi_start`. ``warm_start``: options of the block warm
    start (``block_size``, ``iterations``, ``extrapolate``). ``reseed``: run
    :func:`~mixseq_mot.recovery.reseed_lost_sources` after the fit. ``variance_scales``:
    candidate factors on a learned dynamics model's predictive variance, chosen per
    sequence by the ELBO of ``calibration_iterations`` EM iterations
    (:func:`~mixseq_mot.calibration.calibrate_variance_scale`; empty or one: no
    calibration; ignored for dynamics without ``variance_scale``). ``em``: the
    :class:`mixseq.EMConfig`. ``dynamics_options``: keyword arguments per registered
    dynamics name, used when this preset builds that model.
    """

    name: str
    std_ratio: float = attrs.field(default=0.04, validator=attrs.validators.gt(0))
    assignment_scale: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    prior: str = "uniform"
    prior_options: dict[str, Any] = attrs.field(factory=dict, converter=_as_dict)
    starts: tuple[str, ...] = attrs.field(default=("warm-start",), converter=_as_tuple, validator=_starts)
    warm_start: dict[str, Any] = attrs.field(
        factory=lambda: {"block_size": 30, "iterations": 20, "extrapolate": False}, converter=_as_dict)
    reseed: bool = False
    variance_scales: tuple[float, ...] = attrs.field(default=(), converter=tuple)
    calibration_iterations: int = attrs.field(default=10, validator=attrs.validators.ge(1))
    em: EMConfig = attrs.field(factory=EMConfig)
    dynamics_options: dict[str, dict[str, Any]] = attrs.field(factory=dict, converter=_frozen_mapping)
    description: str = ""

    def describe(self) -> dict[str, Any]:
        """The preset as plain values (for provenance and ``--json`` output)."""
        return attrs.asdict(self, value_serializer=lambda _i, _a, v: v if not isinstance(v, tuple) else list(v))


#: Settings that make the core's linear-Gaussian model a constant-velocity model on boxes.
_LINEAR_GAUSSIAN = {"order": 2, "process_variance": 1e-6}

PRESETS: dict[str, TrackingPreset] = {
    "paper": TrackingPreset(
        name="paper",
        std_ratio=0.04,
        assignment_scale=0.008,
        prior="uniform",
        starts=("warm-start",),
        warm_start={"block_size": 30, "iterations": 20, "extrapolate": False},
        reseed=False,
        em=EMConfig(max_iterations=70, tolerance=None),
        dynamics_options={"linear_gaussian": _LINEAR_GAUSSIAN},
        description="the released MixDVAE tracker: uniform prior, E-W tempered by 0.008, "
                    "30-frame warm start, 70 iterations",
    ),
    "default": TrackingPreset(
        name="default",
        std_ratio=0.04,
        assignment_scale=1.0,
        prior="sinkhorn",
        prior_options={"iterations": 10, "miss_log_weight": -5.0},
        starts=("first-frame", "link", "warm-start"),
        warm_start={"block_size": 30, "iterations": 20, "extrapolate": False},
        reseed=True,
        variance_scales=(),
        em=EMConfig(max_iterations=30, tolerance=1e-4, patience=3, min_iterations=5),
        dynamics_options={"linear_gaussian": _LINEAR_GAUSSIAN},
        description="one-to-one Sinkhorn prior, best of three starts by ELBO, re-seeding of lost sources, "
                    "stop on relative ELBO change < 1e-4 for 3 iterations (5 to 30 iterations)",
    ),
}


def get_preset(preset: str | TrackingPreset) -> TrackingPreset:
    """The preset named ``preset`` (``"default"``, ``"paper"``), or ``preset`` itself."""
    if isinstance(preset, TrackingPreset):
        return preset
    if preset not in PRESETS:
        raise InputError(f"preset: expected one of {sorted(PRESETS)}, got {preset!r}")
    return PRESETS[preset]


# --------------------------------------------------------------------------- dynamics


def _default_dynamics_name() -> str:
    names = registry("dynamics_models")
    for name in ("srnn", "vkf"):
        if name in names:
            return name
    return "linear_gaussian"


def make_dynamics(
    dynamics: str | DynamicsModel | None = None,
    *,
    checkpoint: Any = None,
    preset: str | TrackingPreset = "default",
    **options: Any,
) -> DynamicsModel:
    """The dynamics model for tracking.

    ``dynamics``: a registered name (``srnn``, ``deep_ar``, ``vkf``, ``linear_gaussian``,
    see ``mixseq plugins``), a ready :class:`mixseq.DynamicsModel`, or ``None``: the
    shipped SRNN (``srnn-mot``) when it is installed, else VKF with an
    :class:`~mixseq.errors.InputWarning`, else the core's linear-Gaussian model.
    ``checkpoint``: passed to the model (a pretrained name or a file). ``options``:
    keyword arguments, over the preset's ``dynamics_options`` for that name.
    """
    if isinstance(dynamics, DynamicsModel):
        if checkpoint is not None or options:
            raise InputError("dynamics: checkpoint= and options apply to a dynamics name, not to a built model")
        return dynamics
    settings = get_preset(preset)
    if dynamics is None:
        name = _default_dynamics_name()
        if name == "srnn" and checkpoint is None:
            try:
                return _create(name, settings, None, options)
            except CheckpointError as exc:
                fallback = "vkf" if "vkf" in registry("dynamics_models") else "linear_gaussian"
                warnings.warn(f"the shipped SRNN checkpoint is not available ({exc}); tracking with {fallback} "
                              f"dynamics instead", InputWarning, stacklevel=2)
                return _create(fallback, settings, None, {})
        return _create(name, settings, checkpoint, options)
    return _create(dynamics, settings, checkpoint, options)


def _create(name: str, preset: TrackingPreset, checkpoint: Any, options: Mapping[str, Any]) -> DynamicsModel:
    kwargs = dict(preset.dynamics_options.get(name, {}))
    kwargs.update(options)
    if checkpoint is not None:
        kwargs["checkpoint"] = checkpoint
    model = create_component("dynamics_models", name, **kwargs)
    if not isinstance(model, DynamicsModel):
        raise InputError(f"dynamics {name!r}: expected a mixseq.DynamicsModel, got {type(model).__name__}")
    return model


def make_tracking_engine(
    preset: str | TrackingPreset = "default",
    *,
    dynamics: str | DynamicsModel | None = None,
    checkpoint: Any = None,
    dynamics_options: Mapping[str, Any] | None = None,
    **em_overrides: Any,
) -> Engine:
    """The :class:`mixseq.Engine` of a preset: box model, assignment prior, EM settings.

    ``em_overrides`` change the preset's :class:`~mixseq.EMConfig` (``max_iterations=10``).
    The engine alone runs one initialisation; :func:`make_tracker` adds the preset's
    starts and recovery.
    """
    settings = get_preset(preset)
    model = make_dynamics(dynamics, checkpoint=checkpoint, preset=settings, **dict(dynamics_options or {}))
    init = "link" if settings.starts[0] in ("link", "warm-start-link") else "first-frame"
    observation = BoxObservationModel(std_ratio=settings.std_ratio, assignment_scale=settings.assignment_scale,
                                      init=init)  # type: ignore[arg-type]
    prior = create_component("assignment_priors", settings.prior, **settings.prior_options)
    config = attrs.evolve(settings.em, **em_overrides)
    return Engine(observation_model=observation, dynamics=model, assignment_prior=prior, config=config)


def make_tracker(
    preset: str | TrackingPreset = "default",
    *,
    dynamics: str | DynamicsModel | None = None,
    checkpoint: Any = None,
    dynamics_options: Mapping[str, Any] | None = None,
    **em_overrides: Any,
) -> Tracker:
    """A :class:`Tracker` for ``preset`` with the given dynamics (see :func:`make_dynamics`).

    >>> from mixseq_mot import make_tracker
    >>> tracker = make_tracker("default", dynamics="vkf")  # doctest: +SKIP
    >>> result = tracker.track(obs, obs_mask, n_sources=3)  # doctest: +SKIP
    """
    settings = get_preset(preset)
    engine = make_tracking_engine(settings, dynamics=dynamics, checkpoint=checkpoint,
                                  dynamics_options=dynamics_options, **em_overrides)
    return Tracker(engine=engine, preset=settings)


class Tracker:
    """An engine plus a preset's initialisation and recovery: ``tracker.track(...)``.

    Parameters
    ----------
    engine
        A :class:`mixseq.Engine` with a :class:`~mixseq_mot.observation.BoxObservationModel`.
    preset
        The :class:`TrackingPreset` whose ``starts``, ``warm_start`` and ``reseed`` apply.
    """

    def __init__(self, *, engine: Engine, preset: TrackingPreset) -> None:
        if not isinstance(engine.observation_model, BoxObservationModel):
            raise InputError(f"engine: expected a BoxObservationModel, got {type(engine.observation_model).__name__}")
        self.engine = engine
        self.preset = preset

    def __repr__(self) -> str:
        dynamics = ", ".join(type(m).__name__ for m in self.engine.dynamics)
        return f"Tracker(preset={self.preset.name!r}, dynamics={dynamics})"

    def describe(self) -> dict[str, Any]:
        """Preset and engine configuration as plain values."""
        return {"preset": self.preset.describe(), "engine": self.engine.describe()}

    def track(
        self,
        obs: Any,
        obs_mask: Any = None,
        time_mask: Any = None,
        *,
        n_sources: int,
        generator: torch.Generator | int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> TrackingResult:
        """Track a batch of box sequences.

        Parameters
        ----------
        obs
            Detections, normalised ``xyxy``. Shape ``(batch, time, obs, 4)`` (or
            ``(time, obs, 4)`` for one sequence); masked entries may hold anything.
        obs_mask
            Shape ``(batch, time, obs)``; default all.
        time_mask
            Valid frames. Shape ``(batch, time)``; default all.
        n_sources
            Number of tracked objects ``N``.
        generator
            Seed or generator for every random draw.
        device, dtype
            Where and in which precision to run (default: the input's, float32 for integers).

        Returns a :class:`~mixseq_mot.tracking.TrackingResult` whose ``start`` says which
        of the preset's starts won per sequence, ``reseeded`` where re-seeding helped and
        ``variance_scale`` which predictive-variance factor was chosen (``None`` for
        dynamics without one).
        """
        if isinstance(n_sources, bool) or not isinstance(n_sources, int) or n_sources < 1:
            raise InputError(f"n_sources: expected an integer >= 1, got {n_sources!r}")
        obs_t, mask, tmask = _inputs(obs, obs_mask, time_mask, device, dtype)
        self.engine.to(device=obs_t.device, dtype=obs_t.dtype)
        gen = generator
        if isinstance(generator, int) and not isinstance(generator, bool):
            gen = torch.Generator(device=obs_t.device).manual_seed(generator)
        n_batch = obs_t.shape[0]
        factors = self.preset.variance_scales or (1.0,)
        models = scalable_dynamics(self.engine)
        scale_index = calibrate_variance_scale(
            self.engine, obs_t, mask, tmask, n_sources=n_sources, factors=factors,
            iterations=self.preset.calibration_iterations, generator=gen)
        parts, choice, reseeded = [], torch.zeros_like(scale_index), torch.zeros(n_batch, dtype=torch.bool,
                                                                                    device=obs_t.device)
        for j in scale_index.unique().tolist():  # one batched fit per chosen variance scale
            rows = (scale_index == j).nonzero().squeeze(1)
            sub = (obs_t, mask, tmask) if rows.numel() == n_batch else (obs_t[rows], mask[rows], tmask[rows])
            with variance_scaled(models, factors[j]):
                fit, start = multi_start(self.engine, *sub, n_sources=n_sources, starts=self.preset.starts,
                                         generator=gen, warm_start_options=self.preset.warm_start)
                if self.preset.reseed:
                    fit, improved = reseed_lost_sources(self.engine, *sub, fit, n_sources=n_sources, generator=gen)
                    reseeded[rows] = improved
            choice[rows] = start
            parts.append((rows, fit))
        fit = combine_fits(parts, n_batch)
        fit = attrs.evolve(fit, seed=generator if isinstance(generator, int) else None,
                           config={**self.engine.describe(), "preset": self.preset.describe()})
        box_mask = tmask.unsqueeze(-1).expand(-1, -1, n_sources)
        scale = torch.as_tensor(factors, dtype=obs_t.dtype, device=obs_t.device)[scale_index] if models else None
        return TrackingResult(boxes=fit.posterior.mean, box_mask=box_mask, fit=fit, start=choice, reseeded=reseeded,
                              variance_scale=scale)


def _inputs(
    obs: Any, obs_mask: Any, time_mask: Any, device: torch.device | str | None, dtype: torch.dtype | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Tensors ``(obs, obs_mask & time_mask, time_mask)`` with a batch axis; masked obs zeroed."""
    import numpy as np

    from mixseq.errors import ShapeError

    obs_t = obs if isinstance(obs, Tensor) else torch.as_tensor(np.asarray(obs))
    single = obs_t.dim() == 3
    if single:
        obs_t = obs_t.unsqueeze(0)
    if obs_t.dim() != 4 or obs_t.shape[-1] != 4:
        raise ShapeError(f"obs: expected dims (batch, time, obs, 4), got {tuple(obs_t.shape)}")
    if dtype is None:
        dtype = obs_t.dtype if obs_t.is_floating_point() else torch.float32
    if not dtype.is_floating_point:
        raise InputError(f"dtype: expected a floating dtype, got {dtype}")
    obs_t = obs_t.to(device=device, dtype=dtype)
    shape3 = tuple(obs_t.shape[:3])

    def as_mask(name: str, value: Any, shape: tuple[int, ...]) -> Tensor:
        if value is None:
            return torch.ones(shape, dtype=torch.bool, device=obs_t.device)
        m = value if isinstance(value, Tensor) else torch.as_tensor(np.asarray(value))
        if single:
            m = m.unsqueeze(0)
        if m.dtype != torch.bool:
            raise InputError(f"{name}: expected a boolean mask, got {m.dtype}")
        if tuple(m.shape) != shape:
            raise ShapeError(f"{name}: expected shape {shape}, got {tuple(m.shape)}")
        return m.to(obs_t.device)

    mask = as_mask("obs_mask", obs_mask, shape3)
    tmask = as_mask("time_mask", time_mask, shape3[:2])
    mask = mask & tmask.unsqueeze(-1)
    finite = torch.isfinite(obs_t).all(dim=-1)
    if bool((mask & ~finite).any()):
        where = tuple((mask & ~finite).nonzero()[0].tolist())
        raise InputError(f"obs: expected finite boxes wherever obs_mask is True, got NaN or inf at "
                         f"(batch, time, obs) = {where}")
    obs_t = torch.where(mask.unsqueeze(-1), obs_t, torch.zeros((), dtype=obs_t.dtype, device=obs_t.device))
    return obs_t, mask, tmask
