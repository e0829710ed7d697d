"""The independent, uniform assignment prior ``p(w_tk = n) = 1/N`` (the paper's)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mixseq.interfaces import AssignmentPrior


class UniformAssignmentPrior(AssignmentPrior):
    """Every observation comes from any source with probability ``1/N``, independently."""

    def log_prior(self, obs_mask: Tensor, n_sources: int, dtype: torch.dtype) -> Tensor:
        """``-log N`` everywhere. Shape ``(batch, time, obs, source)`` (a broadcast view)."""
        value = torch.full((1, 1, 1, 1), -math.log(n_sources), dtype=dtype, device=obs_mask.device)
        return value.expand(*obs_mask.shape, n_sources)
