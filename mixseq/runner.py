"""Run a large data set of sequences batch by batch, locally or on a Dask cluster.

Each batch is an independent task: it fits its sequences and returns a labelled result
plus a row of metrics. Results are written per batch (netCDF, atomically) with the
metrics beside them, so an interrupted run resumes where it stopped; a combined metrics
table (CSV) is written at the end. With a ``dask.distributed`` client the batches run on
its workers (a LocalCluster on one machine, the same code on a real cluster); without
one they run in this process.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs
import xarray as xr

from mixseq.errors import InputError
from mixseq.fileio import atomic_path, write_text_atomic
from mixseq.progress import ProgressBar
from mixseq.results import save_result

__all__ = ["BatchOutput", "DatasetRun", "run_dataset"]

logger = logging.getLogger(__name__)
Item = TypeVar("Item")


@attrs.frozen(kw_only=True)
class BatchOutput:
    """What a batch task returns: a result dataset (or ``None``) and a row of metrics."""

    dataset: xr.Dataset | None
    metrics: dict[str, float | int | str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class DatasetRun:
    """The outcome of :func:`run_dataset`: where things are and what ran."""

    output_dir: Path
    n_batches: int
    n_run: int
    n_resumed: int
    metrics: list[dict[str, Any]]
    metrics_path: Path


def _fingerprint(items: Sequence[Any], batch_size: int) -> str:
    digest = hashlib.sha256(str(batch_size).encode())
    for item in items:
        digest.update(repr(item).encode())
    return digest.hexdigest()[:16]


def _batch_paths(output_dir: Path, index: int) -> tuple[Path, Path]:
    stem = output_dir / f"batch-{index:05d}"
    return stem.with_suffix(".nc"), stem.with_suffix(".json")


def _run_batch(process: Callable[[list[Any]], BatchOutput], items: list[Any], index: int,
               output_dir: str) -> dict[str, Any]:
    """One task: process the items, write the result and its metrics. Runs on a worker."""
    result_path, metrics_path = _batch_paths(Path(output_dir), index)
    output = process(items)
    if not isinstance(output, BatchOutput):
        raise InputError(f"process: expected a mixseq.runner.BatchOutput, got {type(output).__name__}")
    if output.dataset is not None:
        save_result(output.dataset, result_path)
    row = {"batch": index, "n_items": len(items), **output.metrics}
    # The metrics file is written last: its presence marks the batch as finished.
    write_text_atomic(metrics_path, json.dumps(row, sort_keys=True, default=str))
    return row


def run_dataset(
    items: Sequence[Item],
    process: Callable[[list[Item]], BatchOutput],
    *,
    output_dir: str | os.PathLike[str],
    batch_size: int,
    client: Any = None,
    resume: bool = True,
    show_progress: bool = False,
) -> DatasetRun:
    """Split ``items`` into batches, run ``process`` on each, write and combine the results.

    Parameters
    ----------
    items
        The data set: anything picklable (file paths, sequence indices, ...).
    process
        ``process(batch_items) -> BatchOutput``; a module-level function (or
        :func:`functools.partial` of one) so that Dask can ship it to workers.
    output_dir
        Receives ``batch-00000.nc`` (+ ``.json`` metrics) per batch, ``manifest.json``
        and the combined ``metrics.csv``.
    batch_size
        Items per batch (>= 1).
    client
        A ``dask.distributed.Client``, or ``None`` to run in this process.
    resume
        Skip the batches whose results are already written. A manifest guards against
        resuming a different data set or batch size into the same folder.
    """
    if batch_size < 1:
        raise InputError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
    if len(items) == 0:
        raise InputError("items: expected at least one item, got an empty data set")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"n_items": len(items), "batch_size": batch_size, "fingerprint": _fingerprint(items, batch_size)}
    manifest_path = out / "manifest.json"
    if manifest_path.exists() and resume:
        previous = json.loads(manifest_path.read_text())
        if previous != manifest:
            raise InputError(
                f"{out}: holds a run of another data set or batch size ({previous}); expected {manifest}. "
                "Use a new output folder or resume=False."
            )
    write_text_atomic(manifest_path, json.dumps(manifest, sort_keys=True))

    batches = [list(items[start : start + batch_size]) for start in range(0, len(items), batch_size)]
    rows: dict[int, dict[str, Any]] = {}
    pending = []
    for index, batch in enumerate(batches):
        metrics_path = _batch_paths(out, index)[1]
        if resume and metrics_path.exists():
            rows[index] = json.loads(metrics_path.read_text())
        else:
            pending.append((index, batch))
    n_resumed = len(rows)
    if n_resumed:
        logger.info("resuming: %d of %d batches already done", n_resumed, len(batches))

    with ProgressBar(len(pending), desc="batches", enabled=show_progress) as bar:
        if client is None:
            for index, batch in pending:
                rows[index] = _run_batch(process, batch, index, str(out))
                bar.update()
        else:
            from distributed import as_completed

            futures = [client.submit(_run_batch, process, batch, index, str(out), pure=False)
                       for index, batch in pending]
            for future in as_completed(futures):
                row = future.result()
                rows[int(row["batch"])] = row
                bar.update()

    ordered = [rows[index] for index in sorted(rows)]
    metrics_path = out / "metrics.csv"
    _write_metrics(ordered, metrics_path)
    return DatasetRun(output_dir=out, n_batches=len(batches), n_run=len(pending), n_resumed=n_resumed,
                      metrics=ordered, metrics_path=metrics_path)


def _write_metrics(rows: list[dict[str, Any]], path: Path) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
