"""A one-to-one assignment prior for tracking: no source collapse.

The paper's prior is independent per detection, so nothing stops one source from taking two
detections of the same frame while another source starves (REFERENCE §8). This prior
encodes what a tracker knows: a detection comes from exactly one source (or, optionally,
from clutter), and a source emits at most one detection per frame (it may be missed).

E-W becomes a soft matching per frame: Sinkhorn iterations in log space on the
``(obs + 1) × (source + 1)`` matrix whose extra row is "source missed" and whose extra
column is "clutter". Rows of real detections sum to one, columns of real sources sum to
one, so every source's total weight in a frame is at most one.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mixseq.errors import InputError
from mixseq.interfaces import AssignmentPrior

__all__ = ["SinkhornAssignmentPrior"]


class SinkhornAssignmentPrior(AssignmentPrior):
    """Doubly-stochastic (one-to-one) assignments per frame, by log-space Sinkhorn.

    Parameters
    ----------
    iterations
        Sinkhorn sweeps per E-W step (each normalises detections, then sources).
    miss_log_weight
        Log-weight of "this source emits no detection in this frame"; lower values make a
        source reach harder for a detection.
    clutter_log_weight
        Log-weight of "this detection is clutter", or ``None`` (the default) when every
        detection comes from a source. With clutter, a detection's weights over the sources
        sum to less than one.

    ``log_prior`` (used for the ELBO) is the uniform ``-log N``; the one-to-one constraint
    acts in E-W, which makes the ELBO an approximation under this prior.
    """

    def __init__(self, *, iterations: int = 50, miss_log_weight: float = -5.0,
                 clutter_log_weight: float | None = None) -> None:
        super().__init__()
        if iterations < 1:
            raise InputError(f"iterations: expected an integer >= 1, got {iterations!r}")
        for name, value in (("miss_log_weight", miss_log_weight), ("clutter_log_weight", clutter_log_weight)):
            if value is not None and not math.isfinite(value):
                raise InputError(f"{name}: expected a finite number, got {value!r}")
        self.iterations = iterations
        self.miss_log_weight = float(miss_log_weight)
        self.clutter_log_weight = None if clutter_log_weight is None else float(clutter_log_weight)

    def extra_repr(self) -> str:
        return (f"iterations={self.iterations}, miss_log_weight={self.miss_log_weight}, "
                f"clutter_log_weight={self.clutter_log_weight}")

    def log_prior(self, obs_mask: Tensor, n_sources: int, dtype: torch.dtype) -> Tensor:
        """``-log N`` everywhere. Shape ``(batch, time, obs, source)`` (a broadcast view)."""
        value = torch.full((1, 1, 1, 1), -math.log(n_sources), dtype=dtype, device=obs_mask.device)
        return value.expand(*obs_mask.shape, n_sources)

    def posterior(self, scores: Tensor, obs_mask: Tensor) -> Tensor:
        """Soft one-to-one matching of detections and sources per frame.

        ``scores``: shape ``(batch, time, obs, source)``; ``obs_mask``: ``(batch, time, obs)``.
        Returns ``q(w)`` of the same shape, zero where masked.
        """
        n_batch, n_steps, n_obs, n_sources = scores.shape
        dtype, device = scores.dtype, scores.device
        # A huge finite negative instead of -inf: exp gives 0 all the same, but a row of
        # masked entries keeps a finite logsumexp and finite gradients.
        neg_inf = torch.tensor(torch.finfo(dtype).min / 4, dtype=dtype, device=device)
        valid = obs_mask.unsqueeze(-1)
        logits = torch.where(valid, scores, neg_inf)
        miss = torch.full((n_batch, n_steps, 1, n_sources), self.miss_log_weight, dtype=dtype, device=device)
        logits = torch.cat([logits, miss], dim=2)  # extra row: the source is missed
        clutter_value = neg_inf if self.clutter_log_weight is None else torch.tensor(
            self.clutter_log_weight, dtype=dtype, device=device)
        clutter = torch.where(valid, clutter_value, neg_inf).to(dtype)
        clutter = torch.cat([clutter, neg_inf.expand_as(clutter[:, :, :1])], dim=2)
        logits = torch.cat([logits, clutter], dim=3)  # extra column: the detection is clutter
        real_rows = torch.cat([obs_mask, torch.zeros_like(obs_mask[:, :, :1])], dim=2).unsqueeze(-1)
        real_cols = torch.zeros(n_sources + 1, dtype=torch.bool, device=device)
        real_cols[:n_sources] = True
        zero = torch.zeros((), dtype=dtype, device=device)
        for _ in range(self.iterations):
            row_norm = torch.logsumexp(logits, dim=3, keepdim=True)
            # Only real, present detections are normalised.
            logits = logits - torch.where(real_rows, row_norm, zero)
            col_norm = torch.logsumexp(logits, dim=2, keepdim=True)
            logits = logits - torch.where(real_cols, col_norm, zero)
        # Finish on the rows so that each detection's weights are a distribution.
        row_norm = torch.logsumexp(logits, dim=3, keepdim=True)
        logits = logits - torch.where(real_rows, row_norm, zero)
        probs = logits[:, :, :n_obs, :n_sources].exp()
        return probs * valid.to(dtype)
