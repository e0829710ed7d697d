"""The data-set runner: batches, Dask, per-batch files, combined metrics, resume."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch

from mixseq import Engine, InputError, load_result
from mixseq.builtins import GaussianObservationModel, LinearGaussianDynamicsModel
from mixseq.metrics import assignment_accuracy
from mixseq.runner import BatchOutput, run_dataset
from mixseq.simulate import crossing_sources


def fit_seeds(seeds: list[int], *, fail_on: int | None = None) -> BatchOutput:
    """Fit one synthetic sequence per seed, as a batch."""
    if fail_on is not None and fail_on in seeds:
        raise RuntimeError(f"interrupted at seed {fail_on}")
    parts = [crossing_sources(n_batch=1, n_steps=20, n_sources=2, noise_std=0.03,
                              generator=torch.Generator().manual_seed(seed)) for seed in seeds]
    obs = torch.cat([p.obs for p in parts])
    mask = torch.cat([p.obs_mask for p in parts])
    labels = torch.cat([p.labels for p in parts])
    engine = Engine(observation_model=GaussianObservationModel(obs_dim=2, noise_variance=0.03**2),
                    dynamics=LinearGaussianDynamicsModel(order=2, process_variance=1e-6), max_iterations=5)
    result = engine.run(obs, mask, n_sources=2, generator=0)
    accuracy = assignment_accuracy(result.assignments, labels)
    return BatchOutput(dataset=result.to_dataset(), metrics={"accuracy": float(accuracy.mean())})


def test_runs_on_a_local_dask_cluster_and_combines(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        run = run_dataset(list(range(7)), fit_seeds, output_dir=tmp_path, batch_size=3, client=client)
    assert run.n_batches == 3 and run.n_run == 3
    assert [row["n_items"] for row in run.metrics] == [3, 3, 1]
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0].split(",") == ["batch", "n_items", "accuracy"]
    assert len(lines) == 4
    assert load_result(tmp_path / "batch-00002.nc").sizes["batch"] == 1


def test_resumes_without_redoing_finished_batches(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="interrupted"):
        run_dataset(list(range(6)), functools.partial(fit_seeds, fail_on=4), output_dir=tmp_path, batch_size=2)
    done = sorted(p.name for p in tmp_path.glob("batch-*.json"))
    assert done == ["batch-00000.json", "batch-00001.json"]
    first_mtime = (tmp_path / "batch-00000.nc").stat().st_mtime_ns
    run = run_dataset(list(range(6)), fit_seeds, output_dir=tmp_path, batch_size=2)
    assert (run.n_resumed, run.n_run) == (2, 1)
    assert (tmp_path / "batch-00000.nc").stat().st_mtime_ns == first_mtime
    assert json.loads((tmp_path / "batch-00002.json").read_text())["n_items"] == 2


def test_refuses_to_resume_another_data_set(tmp_path: Path) -> None:
    run_dataset([1, 2], fit_seeds, output_dir=tmp_path, batch_size=2)
    with pytest.raises(InputError, match="another data set or batch size"):
        run_dataset([3, 4], fit_seeds, output_dir=tmp_path, batch_size=2)
    with pytest.raises(InputError, match="batch_size: expected an integer >= 1"):
        run_dataset([1], fit_seeds, output_dir=tmp_path / "x", batch_size=0)
