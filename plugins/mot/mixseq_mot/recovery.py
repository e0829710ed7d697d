"""Recovering lost sources, batched: several starts per sequence, and re-seeding.

Variational EM is local: a source that starts on the wrong person, or that loses its
detections when two people walk close together, rarely comes back (REFERENCE §8). Two
remedies, both without a Python loop over sequences:

* :func:`multi_start` fits several initialisations of every sequence in one batch (the
  batch is replicated, one copy per start) and keeps, per sequence, the fit with the
  highest final ELBO.
* :func:`reseed_lost_sources` looks at a finished fit for sources that have *lost* their
  detections (they explain fewer than ``min_support`` of the frames) or *duplicate*
  another source (their boxes overlap it with IoU ≥ ``duplicate_iou`` on most frames),
  re-seeds them on tracks linked from the detections that no source covers, fits the
  affected sequences again, and keeps a re-fit only where it raises the ELBO.

Both return a :class:`mixseq.results.FitResult` for the original batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import torch
from torch import Tensor

from mixseq.errors import InputError
from mixseq.interfaces import Gaussian, Initialization
from mixseq.results import FitResult
from mixseq_mot.linking import box_iou, greedy_match, link_detections, select_tracks
from mixseq_mot.observation import LOOSE_VARIANCE, PIN_VARIANCE, BoxObservationModel

__all__ = [
    "START_METHODS",
    "choose_best",
    "concatenate_initializations",
    "initialize",
    "lost_sources",
    "multi_start",
    "reseed_lost_sources",
    "select_fits",
]

#: Initialisations :func:`initialize` knows: the box model's two, and the paper's warm start
#: from each of them.
START_METHODS: tuple[str, ...] = ("first-frame", "link", "warm-start", "warm-start-link")


def _box_model(engine: Any) -> BoxObservationModel:
    model = engine.observation_model
    if not isinstance(model, BoxObservationModel):
        raise InputError(f"expected an engine with a BoxObservationModel, got {type(model).__name__}")
    return model


def initialize(
    engine: Any,
    obs: Tensor,
    obs_mask: Tensor,
    time_mask: Tensor,
    *,
    n_sources: int,
    method: str,
    generator: torch.Generator | int | None = None,
    warm_start_options: dict[str, Any] | None = None,
) -> Initialization:
    """One named initialisation of a batch of box sequences.

    ``method``: ``"first-frame"`` and ``"link"`` (see
    :meth:`~mixseq_mot.observation.BoxObservationModel.initialize`), ``"warm-start"`` (the
    paper's block warm start from ``"first-frame"``) or ``"warm-start-link"`` (the same
    from ``"link"``). ``obs``: shape ``(batch, time, obs, 4)``, zero where masked;
    ``obs_mask``: ``(batch, time, obs)``, already restricted to valid frames;
    ``time_mask``: ``(batch, time)``.
    """
    from mixseq_mot.tracking import warm_start

    model = _box_model(engine)
    if method in ("first-frame", "link"):
        return model.initialize(obs, obs_mask, n_sources, generator=None, method=method)  # type: ignore[arg-type]
    if method in ("warm-start", "warm-start-link"):
        base = "first-frame" if method == "warm-start" else "link"
        if model.init != base:
            engine = engine.__class__(
                observation_model=_with_init(model, base), dynamics=engine.dynamics[0] if engine.shared_dynamics
                else engine.dynamics, assignment_prior=engine.assignment_prior, config=engine.config,
            )
        return warm_start(engine, obs, obs_mask, time_mask, n_sources=n_sources, generator=generator,
                          **(warm_start_options or {}))
    raise InputError(f"start: expected one of {START_METHODS}, got {method!r}")


def _with_init(model: BoxObservationModel, init: str) -> BoxObservationModel:
    """A copy of ``model`` (same noise, temperature and linker) whose default initialisation is ``init``."""
    copy = BoxObservationModel(std_ratio=model.std_ratio.tolist(), assignment_scale=model.assignment_scale,
                               update_noise=model.update_noise, init=init,  # type: ignore[arg-type]
                               link_iou=model.link_iou, min_std=model.min_std)
    return copy.to(device=model.std_ratio.device)


def concatenate_initializations(inits: Sequence[Initialization]) -> Initialization:
    """Stack initialisations of the same batch along the batch axis (start-major)."""
    if not inits:
        raise InputError("concatenate_initializations: expected at least one initialisation")
    states = [i.initial_state for i in inits]
    if any(s is None for s in states) and not all(s is None for s in states):
        raise InputError("concatenate_initializations: either all or none of the starts have an initial_state")
    assignments = [i.assignments for i in inits]
    if any(a is not None for a in assignments):
        raise InputError("concatenate_initializations: starts with initial assignments are not supported")
    posterior = Gaussian(mean=torch.cat([i.posterior.mean for i in inits]),
                         variance=torch.cat([i.posterior.variance for i in inits]))
    initial_state = None
    if states[0] is not None:
        initial_state = Gaussian(mean=torch.cat([s.mean for s in states if s is not None]),
                                 variance=torch.cat([s.variance for s in states if s is not None]))
    return Initialization(posterior=posterior, initial_state=initial_state)


def select_fits(fit: FitResult, n_starts: int, choice: Tensor) -> FitResult:
    """From a fit of ``n_starts`` stacked copies of a batch, keep start ``choice[b]`` of each sequence.

    ``fit``: batch ``n_starts · batch`` (start-major); ``choice``: shape ``(batch,)``.
    """
    n_batch = choice.shape[0]
    rows = torch.arange(n_batch, device=choice.device)

    def pick(x: Tensor, batch_dim: int = 0) -> Tensor:
        x = x.movedim(batch_dim, 0)
        x = x.reshape(n_starts, n_batch, *x.shape[1:])[choice, rows]
        return x.movedim(0, batch_dim)

    posterior = Gaussian(mean=pick(fit.posterior.mean), variance=pick(fit.posterior.variance))
    return attrs.evolve(
        fit, posterior=posterior, assignments=pick(fit.assignments), elbo=pick(fit.elbo, 1),
        obs_mask=pick(fit.obs_mask), time_mask=pick(fit.time_mask),
        history=None if fit.history is None else pick(fit.history, 1),
    )


def multi_start(
    engine: Any,
    obs: Tensor,
    obs_mask: Tensor,
    time_mask: Tensor,
    *,
    n_sources: int,
    starts: Sequence[str] = ("first-frame", "link", "warm-start"),
    generator: torch.Generator | int | None = None,
    warm_start_options: dict[str, Any] | None = None,
) -> tuple[FitResult, Tensor]:
    """Fit every start of every sequence in one batch; keep the best final ELBO per sequence.

    ``obs``: shape ``(batch, time, obs, 4)``, zero where masked; ``obs_mask``:
    ``(batch, time, obs)``; ``time_mask``: ``(batch, time)``. Returns the selected fit
    (batch ``batch``) and the index into ``starts`` of each sequence's winner, shape
    ``(batch,)``. Ties go to the earlier start.
    """
    if not starts:
        raise InputError("starts: expected at least one initialisation")
    inits = [initialize(engine, obs, obs_mask, time_mask, n_sources=n_sources, method=name, generator=generator,
                        warm_start_options=warm_start_options) for name in starts]
    n_starts = len(starts)
    repeat = (n_starts,) + (1,) * (obs.dim() - 1)
    fit = engine.run(obs.repeat(repeat), obs_mask.repeat(n_starts, 1, 1), time_mask.repeat(n_starts, 1),
                     n_sources=n_sources, init=concatenate_initializations(inits), generator=generator)
    final = fit.elbo[-1].reshape(n_starts, obs.shape[0])
    choice = choose_best(final)
    return select_fits(fit, n_starts, choice), choice


def choose_best(elbo: Tensor) -> Tensor:
    """Per sequence, the earliest start whose ELBO is the highest up to rounding.

    ``elbo``: shape ``(start, batch)``. Two starts often reach the same tracks with the
    sources in another order: their ELBOs then differ by rounding only, and taking the
    earlier one keeps the choice (and the source order) stable under input perturbations
    as small as a change of image resolution. Returns shape ``(batch,)``.
    """
    best = elbo.amax(dim=0)
    # 64 ulps of the ELBO's magnitude plus 1e-6 nats: far below any real difference of fits.
    margin = 64 * torch.finfo(elbo.dtype).eps * best.abs() + 1e-6
    close = elbo >= (best - margin).unsqueeze(0)
    return close.to(torch.int8).argmax(dim=0)


# --------------------------------------------------------------------------- re-seeding


def lost_sources(
    fit: FitResult,
    *,
    min_support: float = 0.2,
    duplicate_iou: float = 0.5,
    duplicate_fraction: float = 0.5,
) -> Tensor:
    """Which sources lost their detections or duplicate another source.

    A source's *support* is the expected number of detections it explains, divided by the
    number of valid frames. A source is lost when its support is below ``min_support``
    of the best-supported source's, or when its boxes overlap a better-supported source's
    with IoU ≥ ``duplicate_iou`` on at least ``duplicate_fraction`` of the valid frames.
    Returns shape ``(batch, source)``.
    """
    mean, time_mask = fit.posterior.mean, fit.time_mask
    frames = time_mask.sum(dim=1).clamp(min=1).to(mean.dtype)  # (batch,); empty sequence: nothing is lost
    support = (fit.assignments * fit.obs_mask.unsqueeze(-1)).sum(dim=(1, 2)) / frames.unsqueeze(-1)
    weak = support < min_support * support.amax(dim=1, keepdim=True)
    iou = box_iou(mean, mean)  # (batch, time, source, source)
    overlap = ((iou >= duplicate_iou) & time_mask[:, :, None, None]).sum(dim=1).to(mean.dtype) / frames[:, None, None]
    n_sources = mean.shape[2]
    # Source n duplicates m when they overlap and m is the better supported (ties: lower index).
    index = torch.arange(n_sources, device=mean.device)
    better = (support.unsqueeze(1) > support.unsqueeze(2)) | (
        (support.unsqueeze(1) == support.unsqueeze(2)) & (index.view(1, 1, -1) < index.view(1, -1, 1)))
    duplicate = ((overlap >= duplicate_fraction) & better & (index.view(1, -1, 1) != index.view(1, 1, -1))).any(-1)
    return (weak | duplicate) & (time_mask.any(dim=1, keepdim=True))


def reseed_lost_sources(
    engine: Any,
    obs: Tensor,
    obs_mask: Tensor,
    time_mask: Tensor,
    fit: FitResult,
    *,
    n_sources: int,
    generator: torch.Generator | int | None = None,
    cover_iou: float = 0.3,
    min_track_length: int = 3,
    **criteria: float,
) -> tuple[FitResult, Tensor]:
    """Re-seed lost sources on uncovered detections, re-fit, keep improvements.

    A detection is *uncovered* when a one-to-one matching per frame (greedy by IoU, pairs
    with IoU ≥ ``cover_iou``) of the sources that are not lost leaves it out.
    Uncovered detections are linked into tracks (:func:`~mixseq_mot.linking.link_detections`);
    the longest tracks with at least ``min_track_length`` detections replace the lost
    sources (:func:`lost_sources`, ``criteria`` go there), the other sources start from
    their fitted posterior. Only sequences with a re-seeded source are fitted again, as
    one batch; a re-fit replaces the old fit where its final ELBO is higher.

    Returns the fit and which sequences were re-seeded *and* improved, shape ``(batch,)``.
    """
    model = _box_model(engine)
    n_batch, n_steps, n_obs, _ = obs.shape
    lost = lost_sources(fit, **criteria)  # (batch, source)
    uncovered = obs_mask & ~_covered(obs, obs_mask, fit.posterior.mean, lost, cover_iou)
    tracks = link_detections(obs, uncovered, n_sources + n_obs, iou_threshold=model.link_iou)
    order, _ = select_tracks(tracks, n_sources, order_by="length")  # (batch, source) longest first
    usable = tracks.length.gather(1, order) >= min_track_length  # (batch, source)
    # The r-th lost source takes the r-th longest usable track.
    lost_rank = torch.where(lost, lost.long().cumsum(1) - 1, n_sources)
    n_usable = usable.long().sum(1, keepdim=True)
    take = lost & (lost_rank < n_usable)  # (batch, source)
    todo = take.any(dim=1)
    if not bool(todo.any()):
        return fit, torch.zeros(n_batch, dtype=torch.bool, device=obs.device)
    track_of = order.gather(1, lost_rank.clamp(max=n_sources - 1))  # (batch, source)
    idx = track_of.unsqueeze(1).expand(-1, n_steps, -1)
    boxes = tracks.boxes.gather(2, idx.unsqueeze(-1).expand(-1, -1, -1, 4))  # (batch, time, source, 4)
    gap = tracks.gap.gather(2, idx).to(obs.dtype)
    at_zero = tracks.observed.gather(2, idx)[:, 0]
    base = (model.std_ratio.to(obs.dtype) * model.box_sizes(boxes).abs()).clamp(min=model.min_std).square()
    seed_var = base * (1.0 + gap).unsqueeze(-1)
    sel = take.unsqueeze(1).unsqueeze(-1)  # (batch, 1, source, 1)
    mean = torch.where(sel, boxes, fit.posterior.mean)
    variance = torch.where(sel, seed_var, fit.posterior.variance)
    first = mean[:, 0]
    pin = torch.where(at_zero, obs.new_tensor(PIN_VARIANCE), obs.new_tensor(LOOSE_VARIANCE))
    # Sources that are kept start pinned where their fitted box was (a loose prior: the fit
    # may have moved it); re-seeded ones where their new track starts.
    init_var = torch.where(take, pin, obs.new_tensor(LOOSE_VARIANCE)).unsqueeze(-1).expand(-1, -1, 4)
    rows = todo.nonzero().squeeze(1)
    init = Initialization(
        posterior=Gaussian(mean=mean[rows].contiguous(), variance=variance[rows].contiguous()),
        initial_state=Gaussian(mean=first[rows].contiguous(), variance=init_var[rows].contiguous()),
    )
    refit = engine.run(obs[rows], obs_mask[rows], time_mask[rows], n_sources=n_sources, init=init,
                       generator=generator)
    better = refit.elbo[-1] > fit.elbo[-1, rows]
    improved = torch.zeros(n_batch, dtype=torch.bool, device=obs.device)
    improved[rows] = better
    return _merge(fit, refit, rows, better), improved


def _covered(obs: Tensor, obs_mask: Tensor, boxes: Tensor, lost: Tensor, cover_iou: float) -> Tensor:
    """Detections matched one-to-one per frame to a source that is not lost. Shape ``(batch, time, obs)``."""
    n_batch, n_steps, n_obs, _ = obs.shape
    n_sources = boxes.shape[2]
    iou = box_iou(boxes, obs)  # (batch, time, source, obs)
    allowed = ~lost[:, None, :, None] & obs_mask[:, :, None, :]
    iou = torch.where(allowed, iou, -1.0).reshape(n_batch * n_steps, n_sources, n_obs)
    match = greedy_match(iou, cover_iou)  # (batch·time, source): detection index or -1
    covered = torch.zeros(n_batch * n_steps, n_obs + 1, dtype=torch.bool, device=obs.device)
    covered.scatter_(1, torch.where(match >= 0, match, n_obs), True)
    return covered[:, :n_obs].reshape(n_batch, n_steps, n_obs)


def _merge(fit: FitResult, refit: FitResult, rows: Tensor, better: Tensor) -> FitResult:
    """``fit`` with the rows ``rows[better]`` replaced by ``refit``'s (ELBO traces are padded)."""
    keep = rows[better]
    src = better.nonzero().squeeze(1)

    def put(old: Tensor, new: Tensor) -> Tensor:
        out = old.clone()
        out[keep] = new[src].to(out.dtype)
        return out

    # One trace per sequence: the first fit, then the re-fit where it was kept, else the
    # first fit's final value held (that sequence had stopped there).
    n_new = refit.elbo.shape[0]
    tail = fit.elbo[-1:].expand(n_new, -1).clone()
    tail[:, keep] = refit.elbo[:, src].to(tail.dtype)
    elbo = torch.cat([fit.elbo, tail])
    posterior = Gaussian(mean=put(fit.posterior.mean, refit.posterior.mean),
                         variance=put(fit.posterior.variance, refit.posterior.variance))
    return attrs.evolve(fit, posterior=posterior, assignments=put(fit.assignments, refit.assignments), elbo=elbo,
                        n_iterations=fit.n_iterations + refit.n_iterations, history=None)
