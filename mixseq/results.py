"""Fit results: tensors while computing, a labelled :class:`xarray.Dataset` for users.

Dimension names follow the project's vocabulary: ``batch, time, obs, source, state`` and
``iteration``. Complex posterior means (STFT states) are stored as real and imaginary
parts when written to netCDF, which has no complex type; :func:`load_result` restores them.
"""

from __future__ import annotations

import json
import os
from typing import Any

import attrs
import numpy as np
import xarray as xr
from torch import Tensor

from mixseq.fileio import atomic_path
from mixseq.interfaces import Gaussian

__all__ = ["FitResult", "load_result", "save_result"]


@attrs.frozen(kw_only=True)
class FitResult:
    """The tensors of one fit.

    ``posterior``: ``q(s)``, shape ``(batch, time, source, state)``.
    ``assignments``: ``q(w)``, shape ``(batch, time, obs, source)``.
    ``elbo``: shape ``(iteration, batch)``. ``obs_mask``: ``(batch, time, obs)``.
    ``time_mask``: ``(batch, time)``. ``history``: posterior means per iteration,
    ``(iteration, batch, time, source, state)``, when asked for.
    """

    posterior: Gaussian
    assignments: Tensor
    elbo: Tensor
    obs_mask: Tensor
    time_mask: Tensor
    n_iterations: int
    converged: bool
    history: Tensor | None = None
    seed: int | None = None
    config: dict[str, Any] = attrs.field(factory=dict)

    def to_dataset(self) -> xr.Dataset:
        """The result as a labelled dataset with provenance in its attributes."""
        from mixseq import __version__
        from mixseq.plugins import plugin_versions

        def arr(tensor: Tensor) -> np.ndarray:
            return tensor.detach().cpu().numpy()

        data: dict[str, Any] = {
            "mean": (("batch", "time", "source", "state"), arr(self.posterior.mean)),
            "variance": (("batch", "time", "source", "state"), arr(self.posterior.variance)),
            "assignments": (("batch", "time", "obs", "source"), arr(self.assignments)),
            "elbo": (("iteration", "batch"), arr(self.elbo)),
            "obs_mask": (("batch", "time", "obs"), arr(self.obs_mask)),
            "time_mask": (("batch", "time"), arr(self.time_mask)),
        }
        if self.history is not None:
            data["mean_history"] = (("iteration", "batch", "time", "source", "state"), arr(self.history))
        attributes = {
            "mixseq_version": __version__,
            "plugin_versions": json.dumps(plugin_versions(), sort_keys=True),
            "config": json.dumps(self.config, sort_keys=True, default=str),
            "seed": -1 if self.seed is None else int(self.seed),
            "n_iterations": int(self.n_iterations),
            "converged": int(self.converged),
        }
        dataset = xr.Dataset(data, attrs=attributes)
        return dataset.assign_coords(iteration=np.arange(1, self.n_iterations + 1))


def save_result(dataset: xr.Dataset, path: str | os.PathLike[str]) -> None:
    """Write a fit result to netCDF atomically (complex means split into two real parts)."""
    encoded = dataset.copy()
    for name in [str(n) for n in encoded.data_vars]:
        values = encoded[name]
        if np.iscomplexobj(values.values):
            encoded[f"{name}__real"] = values.real
            encoded[f"{name}__imag"] = values.imag
            encoded = encoded.drop_vars(name)
    with atomic_path(path) as tmp:
        encoded.to_netcdf(tmp)


def load_result(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a result written by :func:`save_result`."""
    with xr.open_dataset(path) as stored:
        dataset = stored.load()
    for name in [n for n in dataset.data_vars if str(n).endswith("__real")]:
        base = str(name)[: -len("__real")]
        dataset[base] = dataset[name] + 1j * dataset[f"{base}__imag"]
        dataset = dataset.drop_vars([name, f"{base}__imag"])
    for name in ("obs_mask", "time_mask"):
        if name in dataset and dataset[name].dtype != bool:
            dataset[name] = dataset[name].astype(bool)
    return dataset
