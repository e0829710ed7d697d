"""Generic scores for fitted mixtures (domain metrics live in the plugins)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

__all__ = ["assignment_accuracy", "best_permutation"]


def _confusion(assignments: Tensor, labels: Tensor) -> Tensor:
    """Counts of (true source, predicted source) per sequence. Shape ``(batch, source, source)``."""
    n_sources = assignments.shape[-1]
    valid = labels >= 0
    one_hot_true = torch.nn.functional.one_hot(labels.clamp_min(0), n_sources) * valid.unsqueeze(-1)
    one_hot_pred = torch.nn.functional.one_hot(assignments.argmax(dim=-1), n_sources)
    return torch.einsum("btki,btkj->bij", one_hot_true.double(), one_hot_pred.double())


def best_permutation(assignments: Tensor, labels: Tensor) -> Tensor:
    """For each sequence and true source, the fitted source that best matches it.

    ``assignments``: ``q(w)``, shape ``(batch, time, obs, source)``. ``labels``: true source
    per observation, ``(batch, time, obs)``, ``-1`` where there is none. Hungarian matching
    on the confusion counts. Shape ``(batch, source)``.
    """
    confusion = _confusion(assignments, labels).cpu().numpy()
    permutation = np.empty(confusion.shape[:2], dtype=np.int64)
    for b, matrix in enumerate(confusion):  # scipy's Hungarian solver takes one matrix at a time
        rows, cols = linear_sum_assignment(-matrix)
        permutation[b, rows] = cols
    return torch.as_tensor(permutation, device=assignments.device)


def assignment_accuracy(assignments: Tensor, labels: Tensor) -> Tensor:
    """Fraction of observations given to the right source, after the best source permutation.

    Shapes as in :func:`best_permutation`. Shape ``(batch,)``; a sequence without
    observations scores 1.
    """
    confusion = _confusion(assignments, labels)
    permutation = best_permutation(assignments, labels)
    matched = torch.gather(confusion, 2, permutation.unsqueeze(-1)).squeeze(-1).sum(dim=1)
    totals = (labels >= 0).sum(dim=(1, 2)).to(matched.dtype)
    return torch.where(totals > 0, matched / totals.clamp_min(1), torch.ones_like(matched))
