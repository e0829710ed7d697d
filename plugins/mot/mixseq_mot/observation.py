"""Gaussian box observations: ``o_tk = s_tn + noise`` with ``noise ~ N(0, Φ_tk)``.

``Φ_tk`` is diagonal, built from the *detection's* own size: the standard deviation of
``x1, x2`` is ``std_ratio · width`` and of ``y1, y2`` is ``std_ratio · height``
(``std_ratio = 0.04`` in the paper). Boxes are normalised ``xyxy`` (see
:mod:`mixseq_mot.boxes`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from mixseq.errors import InputError, ShapeError
from mixseq.interfaces import Gaussian, GaussianMessage, Initialization, ObservationModel
from mixseq_mot.linking import link_detections, select_tracks

__all__ = ["INIT_METHODS", "BoxObservationModel"]

InitMethod = Literal["first-frame", "link"]
INIT_METHODS: tuple[str, ...] = ("first-frame", "link")

#: Variance of the ``t = 0`` prior that pins a source to its first detection (the paper's).
PIN_VARIANCE = 1e-5
#: Variance of the ``t = 0`` prior of a source first seen later or never seen.
LOOSE_VARIANCE = 1e-2
#: Size of the box given to a source that no detection could seed (normalised units):
#: a pedestrian-shaped box at the image centre, used only when a sequence has fewer
#: distinct tracks than sources.
FALLBACK_SIZE = (0.05, 0.25)


class BoxObservationModel(ObservationModel):
    """Boxes observed with Gaussian noise proportional to their size.

    Parameters
    ----------
    std_ratio
        Noise standard deviation as a fraction of the detection's width (x coordinates)
        and height (y coordinates): one number, or four for ``(x1, y1, x2, y2)``.
    assignment_scale
        Multiplier on the E-W scores: 1 is exact variational EM; the MixDVAE research code
        uses 0.008 (equivalently ``125·Φ`` in E-W only).
    update_noise
        Whether :meth:`m_step` re-estimates ``std_ratio`` per coordinate (the paper's M step;
        the research code never runs it).
    init
        Default initialisation: ``"first-frame"`` (the paper's: source ``n`` starts at the
        first frame's detection ``n`` and stays there) or ``"link"`` (sources follow
        tracks of a greedy IoU frame-to-frame linker, interpolated over misses).
    link_iou
        IoU threshold of the linker (both initialisations use it to seed sources beyond
        the first frame's detections). 0.1 linked real detections best (MOT15 ACF boxes
        have a fixed aspect ratio, so consecutive IoUs can be low).
    min_std
        Floor on the noise standard deviation (normalised units), so that a degenerate
        (zero-size) detection does not get an infinite precision.
    """

    obs_dim = 4
    is_complex = False
    std_ratio: Tensor  # buffer, shape (4,)

    def __init__(
        self,
        *,
        std_ratio: float | Sequence[float] = 0.04,
        assignment_scale: float = 1.0,
        update_noise: bool = False,
        init: InitMethod = "first-frame",
        link_iou: float = 0.1,
        min_std: float = 1e-4,
    ) -> None:
        super().__init__()
        ratio = torch.as_tensor(std_ratio, dtype=torch.float64).flatten()
        if ratio.numel() == 1:
            ratio = ratio.expand(4)
        if ratio.numel() != 4 or not bool((ratio > 0).all()) or not bool(ratio.isfinite().all()):
            raise InputError(f"std_ratio: expected one or four positive numbers, got {std_ratio!r}")
        if not (assignment_scale > 0 and math.isfinite(assignment_scale)):
            raise InputError(f"assignment_scale: expected a positive number, got {assignment_scale!r}")
        if init not in INIT_METHODS:
            raise InputError(f"init: expected one of {INIT_METHODS}, got {init!r}")
        if not min_std > 0:
            raise InputError(f"min_std: expected a positive number, got {min_std!r}")
        self.register_buffer("std_ratio", ratio.clone())
        self.assignment_scale = float(assignment_scale)
        self.update_noise = bool(update_noise)
        self.init = init
        self.link_iou = float(link_iou)
        self.min_std = float(min_std)

    def extra_repr(self) -> str:
        ratio = ", ".join(f"{r:.4g}" for r in self.std_ratio.tolist())
        return (f"std_ratio=({ratio}), assignment_scale={self.assignment_scale}, "
                f"update_noise={self.update_noise}, init={self.init!r}")

    def state_dim(self, obs_dim: int) -> int:
        """Boxes in, boxes out: 4."""
        if obs_dim != 4:
            raise ShapeError(f"BoxObservationModel: expected obs_dim 4 (x1, y1, x2, y2), got {obs_dim}")
        return 4

    # ----------------------------------------------------------------- noise

    def box_sizes(self, obs: Tensor) -> Tensor:
        """``(w, h, w, h)`` of each box. Shape ``(batch, time, obs, 4)``."""
        w = obs[..., 2] - obs[..., 0]
        h = obs[..., 3] - obs[..., 1]
        return torch.stack([w, h, w, h], dim=-1)

    def noise_variance(self, obs: Tensor, obs_mask: Tensor) -> Tensor:
        """Diagonal of ``Φ_tk``; 1 where masked (never used there). Shape ``(batch, time, obs, 4)``."""
        ratio = self.std_ratio.to(device=obs.device, dtype=obs.dtype)
        std = (ratio * self.box_sizes(obs).abs()).clamp(min=self.min_std)  # floor: see min_std
        return torch.where(obs_mask.unsqueeze(-1), std.square(), torch.ones_like(std))

    def _check(self, obs: Tensor, obs_mask: Tensor, other: Tensor, what: str) -> None:
        self.validate(obs)
        if obs_mask.shape != obs.shape[:3] or obs_mask.dtype != torch.bool:
            raise ShapeError(f"obs_mask: expected bool dims {tuple(obs.shape[:3])}, got "
                             f"{obs_mask.dtype} {tuple(obs_mask.shape)}")
        if other.shape[:2] != obs.shape[:2]:
            raise ShapeError(f"{what}: expected leading dims (batch, time) = {tuple(obs.shape[:2])}, "
                             f"got {tuple(other.shape)}")

    # ----------------------------------------------------------------- E steps

    def message(self, obs: Tensor, obs_mask: Tensor, assignments: Tensor) -> GaussianMessage:
        """``Σ_k η_tkn Φ_tk⁻¹`` and ``Σ_k η_tkn Φ_tk⁻¹ o_tk``.

        ``obs``: shape ``(batch, time, obs, 4)``; ``obs_mask``: ``(batch, time, obs)``;
        ``assignments``: ``(batch, time, obs, source)``. Returns shape
        ``(batch, time, source, 4)``; masked detections contribute nothing.
        """
        self._check(obs, obs_mask, assignments, "assignments")
        if assignments.shape[:3] != obs.shape[:3]:
            raise ShapeError(f"assignments: expected dims {(*obs.shape[:3], 'source')}, "
                             f"got {tuple(assignments.shape)}")
        valid = obs_mask.unsqueeze(-1)
        precision = torch.where(valid, self.noise_variance(obs, obs_mask).reciprocal(), 0.0)
        eta = torch.where(valid, assignments, 0.0)
        safe_obs = torch.where(valid, obs, 0.0)
        return GaussianMessage(
            precision=torch.einsum("btkn,btkd->btnd", eta, precision),
            precision_mean=torch.einsum("btkn,btkd->btnd", eta, precision * safe_obs),
        )

    def expected_log_likelihood(self, obs: Tensor, obs_mask: Tensor, posterior: Gaussian) -> Tensor:
        """``log N(o_tk; m_tn, Φ_tk) - ½ tr(Φ_tk⁻¹ V_tn)``.

        ``posterior``: shape ``(batch, time, source, 4)``. Returns shape
        ``(batch, time, obs, source)``, zero where masked.
        """
        self._check(obs, obs_mask, posterior.mean, "posterior")
        var = self.noise_variance(obs, obs_mask).unsqueeze(3)  # (b, t, k, 1, d)
        diff2 = (obs.unsqueeze(3) - posterior.mean.unsqueeze(2)).square()
        quad = ((diff2 + posterior.variance.unsqueeze(2)) / var).sum(-1)
        log_det = torch.log(2 * math.pi * var).sum(-1)
        ell = -0.5 * (log_det + quad)
        return torch.where(obs_mask.unsqueeze(-1), ell, 0.0)

    def m_step(self, obs: Tensor, obs_mask: Tensor, assignments: Tensor, posterior: Gaussian) -> None:
        """Re-estimate ``std_ratio`` per coordinate when ``update_noise`` (else nothing).

        Closed form: ``ρ_d² = Σ η ((o_d - m_d)² + V_d) / size_d² / Σ η`` over valid
        detections and sources.
        """
        if not self.update_noise:
            return None
        self._check(obs, obs_mask, posterior.mean, "posterior")
        with torch.no_grad():
            size2 = self.box_sizes(obs).square().clamp(min=self.min_std**2)  # as in noise_variance
            resid = (obs.unsqueeze(3) - posterior.mean.unsqueeze(2)).square() + posterior.variance.unsqueeze(2)
            eta = torch.where(obs_mask.unsqueeze(-1), assignments, 0.0)
            num = torch.einsum("btkn,btknd->d", eta, resid / size2.unsqueeze(3))
            den = eta.sum()
            if float(den) > 0:
                self.std_ratio.copy_((num / den).sqrt().to(self.std_ratio.dtype))
        return None

    # ----------------------------------------------------------------- initialisation

    def initialize(
        self,
        obs: Tensor,
        obs_mask: Tensor,
        n_sources: int,
        *,
        generator: torch.Generator | None = None,
        method: InitMethod | None = None,
    ) -> Initialization:
        """Initial ``q(s)`` and the ``t = 0`` prior.

        ``"first-frame"`` (the paper's): source ``n`` sits at the first frame's detection
        ``n`` for the whole sequence. When the first frame has fewer than ``n_sources``
        detections, the remaining sources are seeded at the first box of the tracks that
        the linker (:func:`mixseq_mot.linking.link_detections`) opens later, earliest and
        longest first; if there are still too few tracks, at a pedestrian-sized box in
        the image centre (``FALLBACK_SIZE``).

        ``"link"``: source ``n`` follows the ``n``-th linker track, interpolated over its
        misses, with a variance growing with the distance to its nearest detection.

        ``obs``: shape ``(batch, time, obs, 4)``; ``obs_mask``: ``(batch, time, obs)``.
        Deterministic: ``generator`` is unused. The ``t = 0`` prior pins sources detected
        at ``t = 0`` with variance ``PIN_VARIANCE`` and others with ``LOOSE_VARIANCE``.
        """
        self._check(obs, obs_mask, obs_mask, "obs_mask")
        method = self.init if method is None else method
        if method not in INIT_METHODS:
            raise InputError(f"method: expected one of {INIT_METHODS}, got {method!r}")
        if n_sources < 1:
            raise InputError(f"n_sources: expected at least 1, got {n_sources}")
        n_batch, n_steps, n_obs, _ = obs.shape
        tracks = link_detections(obs, obs_mask, n_sources + n_obs, iou_threshold=self.link_iou)
        order_by = "start" if method == "first-frame" else "length"
        chosen, seen = select_tracks(tracks, n_sources, order_by=order_by)  # (batch, source)
        idx = chosen.unsqueeze(1).expand(-1, n_steps, -1)
        boxes = tracks.boxes.gather(2, idx.unsqueeze(-1).expand(-1, -1, -1, 4))
        gap = tracks.gap.gather(2, idx)
        at_zero = tracks.observed.gather(2, idx)[:, 0]  # (batch, source)

        fallback = self._fallback_box(obs, obs_mask)  # (batch, 4)
        boxes = torch.where(seen.view(n_batch, 1, n_sources, 1), boxes, fallback.view(n_batch, 1, 1, 4))
        if method == "first-frame":
            start = tracks.start.gather(1, chosen).clamp(max=n_steps - 1)  # (batch, source)
            seed = boxes.gather(1, start.view(n_batch, 1, n_sources, 1).expand(-1, -1, -1, 4))
            mean = seed.expand(-1, n_steps, -1, -1)
            gap = torch.zeros_like(gap)
        else:
            mean = boxes
        base = (self.std_ratio.to(obs.dtype) * self.box_sizes(mean).abs()).clamp(min=self.min_std).square()
        # Uncertainty grows with the distance to the nearest detection (a random-walk guess).
        variance = base * (1.0 + gap.to(obs.dtype)).unsqueeze(-1)
        variance = torch.where(seen.view(n_batch, 1, n_sources, 1), variance, LOOSE_VARIANCE)
        pin = torch.where(at_zero, obs.new_tensor(PIN_VARIANCE), obs.new_tensor(LOOSE_VARIANCE))
        initial_state = Gaussian(mean=mean[:, 0].clone(), variance=pin.unsqueeze(-1).expand(-1, -1, 4).clone())
        return Initialization(
            posterior=Gaussian(mean=mean.contiguous(), variance=variance.contiguous()),
            initial_state=initial_state,
        )

    @staticmethod
    def _fallback_box(obs: Tensor, obs_mask: Tensor) -> Tensor:
        """A centred box of the sequence's (lower) median detection size. Shape ``(batch, 4)``."""
        n_batch, n_steps, n_obs, _ = obs.shape
        if n_steps * n_obs == 0:
            w, h = FALLBACK_SIZE
            return obs.new_tensor([0.5 - w / 2, 0.5 - h / 2, 0.5 + w / 2, 0.5 + h / 2]).expand(n_batch, 4)
        mask = obs_mask.reshape(n_batch, n_steps * n_obs)
        count = mask.sum(dim=1)
        middle = ((count - 1).clamp(min=0) // 2).unsqueeze(1)
        sizes = []
        for size, default in zip(((obs[..., 2] - obs[..., 0]), (obs[..., 3] - obs[..., 1])), FALLBACK_SIZE,
                                 strict=True):
            # Masked entries sort last (+inf) so the median is over valid detections only.
            ordered = size.reshape(n_batch, n_steps * n_obs).masked_fill(~mask, float("inf")).sort(dim=1).values
            median = ordered.gather(1, middle).squeeze(1)
            sizes.append(torch.where(count > 0, median, torch.full_like(median, default)))
        mw, mh = sizes
        return torch.stack([0.5 - mw / 2, 0.5 - mh / 2, 0.5 + mw / 2, 0.5 + mh / 2], dim=-1)
