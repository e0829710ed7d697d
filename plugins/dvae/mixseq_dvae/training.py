"""Pre-training of the sequence networks (the MixDVAE recipe), resumable.

Recipe (``REFERENCE.md`` §2): Adam, batch 256, KL weight rising linearly from 0 to β over
the first ``kl_warmup_epochs`` epochs, scheduled-sampling probability rising linearly from 0
to ``sampling_max`` between ``sampling_start`` and ``sampling_end``, early stopping on the
validation loss.

The validation loss is always computed with the final schedule (full β, ``sampling_max``)
and fixed noise, so epochs are comparable; the best epoch's weights are kept. Early
stopping counts only epochs after both schedules have finished.

A run folder holds ``state.pt`` (everything needed to resume, rewritten atomically after
every epoch), ``checkpoint.pt`` (the best weights, in the checkpoint format, rewritten at
every improvement), ``history.csv``, ``validation.png`` and ``train.log``.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from torch import Tensor

from mixseq.errors import CheckpointError, InputError, ShapeError
from mixseq.fileio import atomic_path, write_text_atomic
from mixseq.progress import ProgressBar
from mixseq_dvae.base import SequenceNetwork
from mixseq_dvae.checkpoint import save_checkpoint
from mixseq_dvae.config import DVAEConfig, config_from_dict, config_to_dict
from mixseq_dvae.models import build_network

__all__ = ["TrainingConfig", "TrainingData", "TrainingResult", "load_training_data", "train_dynamics"]

logger = logging.getLogger(__name__)

_STATE_FORMAT = "mixseq-dvae-training-state"


def _nonneg(instance: Any, attribute: attrs.Attribute, value: Any) -> None:  # type: ignore[type-arg]
    if value < 0:
        raise InputError(f"{attribute.name}: expected a value >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class TrainingConfig:
    """Optimisation settings. Defaults: the MixDVAE box recipe (audio: ``lr=2e-3, beta=0.01``).

    ``input_noise``: maximum standard deviation (network units) of the denoising input noise
    (see :meth:`~mixseq_dvae.base.SequenceNetwork.loss`); 0 (default) trains on clean inputs.
    """

    lr: float = attrs.field(default=1e-3, validator=_nonneg)
    batch_size: int = attrs.field(default=256, validator=_nonneg)
    max_epochs: int = attrs.field(default=500, validator=_nonneg)
    patience: int = attrs.field(default=50, validator=_nonneg)
    beta: float = attrs.field(default=1.0, validator=_nonneg)
    kl_warmup_epochs: int = attrs.field(default=20, validator=_nonneg)
    sampling_start: int = attrs.field(default=20, validator=_nonneg)
    sampling_end: int = attrs.field(default=100, validator=_nonneg)
    sampling_max: float = attrs.field(default=1.0, validator=_nonneg)
    input_noise: float = attrs.field(default=0.0, validator=_nonneg)
    grad_clip: float | None = None
    seed: int = 0

    def kl_weight(self, epoch: int) -> float:
        """β times the warm-up factor ``min(1, epoch / kl_warmup_epochs)``."""
        ramp = 1.0 if self.kl_warmup_epochs == 0 else min(1.0, epoch / self.kl_warmup_epochs)
        return self.beta * ramp

    def sampling_prob(self, epoch: int) -> float:
        """Scheduled-sampling probability at ``epoch``."""
        if self.sampling_end <= self.sampling_start:
            return self.sampling_max if epoch >= self.sampling_start else 0.0
        ramp = (epoch - self.sampling_start) / (self.sampling_end - self.sampling_start)
        return self.sampling_max * min(1.0, max(0.0, ramp))

    @property
    def schedule_end(self) -> int:
        """First epoch at which both schedules have reached their final values."""
        return max(self.kl_warmup_epochs, self.sampling_end if self.sampling_max > 0 else 0)


@attrs.frozen(kw_only=True)
class TrainingData:
    """Training and validation sequences, each ``(n_seq, time, x_dim)`` float32, plus provenance."""

    train: Tensor
    validation: Tensor
    description: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class TrainingResult:
    """Outcome of :func:`train_dynamics`."""

    checkpoint: Path
    validation_loss: float
    best_epoch: int
    epochs_run: int
    stopped: str
    history: list[dict[str, float]]


def _as_tensor(value: Any, name: str) -> Tensor:
    out = torch.as_tensor(np.asarray(value) if not isinstance(value, Tensor) else value).float()
    if out.dim() != 3:
        raise ShapeError(f"{name}: expected dims (n_seq, time, x_dim), got {tuple(out.shape)}")
    return out


def load_training_data(
    path: str | os.PathLike[str], *, validation_fraction: float = 0.2, seed: int = 0
) -> TrainingData:
    """Read a training data file (``.pt`` or ``.npz``).

    The file holds ``"train"`` and ``"validation"`` arrays, shape ``(n_seq, time, x_dim)``, or
    a single ``"sequences"`` array that is split (``validation_fraction``, seeded shuffle);
    optionally ``"description"`` (a dict; in ``.npz`` a JSON string).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"training data: expected an existing file, got {str(path)!r}")
    if path.suffix == ".npz":
        import json

        with np.load(path, allow_pickle=False) as npz:
            raw: dict[str, Any] = {k: npz[k] for k in npz.files}
        if "description" in raw:
            raw["description"] = json.loads(str(raw["description"]))
    else:
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # any unreadable file: report it as bad input
            raise InputError(f"training data {str(path)!r}: expected a torch file, cannot read it: {exc}") from exc
        if not isinstance(raw, dict):
            raise InputError(f"training data {str(path)!r}: expected a dict, got {type(raw).__name__}")
    description = dict(raw.get("description") or {})
    description.setdefault("file", path.name)
    if "train" in raw and "validation" in raw:
        return TrainingData(
            train=_as_tensor(raw["train"], "train"),
            validation=_as_tensor(raw["validation"], "validation"),
            description=description,
        )
    if "sequences" in raw:
        return split_data(_as_tensor(raw["sequences"], "sequences"), validation_fraction, seed, description)
    raise InputError(
        f"training data {str(path)!r}: expected keys 'train' and 'validation', or 'sequences'; got {sorted(raw)}"
    )


def split_data(sequences: Tensor, validation_fraction: float, seed: int, description: dict[str, Any]) -> TrainingData:
    """Split ``sequences`` (``(n_seq, time, x_dim)``) into train and validation, seeded."""
    n = sequences.shape[0]
    n_val = max(1, round(n * validation_fraction))
    if n_val >= n:
        raise InputError(f"training data: expected more than {n_val} sequences to split, got {n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return TrainingData(train=sequences[perm[n_val:]], validation=sequences[perm[:n_val]], description=description)


def _batch_losses(
    network: SequenceNetwork,
    data: Tensor,
    batch_size: int,
    *,
    kl_weight: float,
    sampling_prob: float,
    input_noise: float,
    generator: torch.Generator,
) -> float:
    """Mean loss per frame over ``data`` without gradients."""
    total, frames = 0.0, 0
    network.eval()
    with torch.no_grad():
        for start in range(0, data.shape[0], batch_size):
            batch = data[start : start + batch_size]
            terms = network.loss(
                batch, kl_weight=kl_weight, sampling_prob=sampling_prob, input_noise=input_noise, generator=generator
            )
            total += float(terms.loss.detach()) * batch.shape[0] * batch.shape[1]
            frames += batch.shape[0] * batch.shape[1]
    return total / max(frames, 1)


def _write_history(run_dir: Path, history: list[dict[str, float]], best_epoch: int) -> None:
    if not history:
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(run_dir / "history.csv", buffer.getvalue())
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], label="train (current schedule)")
    ax.plot(epochs, [h["validation_loss"] for h in history], label="validation (final schedule)")
    ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch {best_epoch}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss per frame")
    ax.legend()
    with atomic_path(run_dir / "validation.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def _log(run_dir: Path, line: str) -> None:
    logger.info(line)
    with open(run_dir / "train.log", "a") as fh:
        fh.write(line + "\n")


def _load_state(path: Path, config: DVAEConfig, training: TrainingConfig) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable state file
        raise CheckpointError(f"training state {str(path)!r}: cannot be read: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
        raise CheckpointError(f"training state {str(path)!r}: expected format {_STATE_FORMAT!r}")
    saved = config_from_dict(state["model"], state["config"])
    if saved != config:
        raise CheckpointError(f"resume: the run was started with {saved}, got {config}")
    fixed = {k: v for k, v in attrs.asdict(training).items() if k not in ("max_epochs", "patience")}
    saved_training = {**attrs.asdict(TrainingConfig()), **state["training_config"]}  # fields added later
    old = {k: v for k, v in saved_training.items() if k not in ("max_epochs", "patience")}
    if fixed != old:
        raise CheckpointError(f"resume: the run was started with training settings {old}, got {fixed}")
    return state


def train_dynamics(
    config: DVAEConfig,
    data: TrainingData | str | os.PathLike[str] | Tensor,
    output_dir: str | os.PathLike[str],
    *,
    training: TrainingConfig | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainingResult:
    """Train a network for ``config`` on ``data`` and write the run folder ``output_dir``.

    Parameters
    ----------
    config
        Model config (its class picks the network: ``SRNNConfig`` → SRNN, ...).
    data
        A :class:`TrainingData`, a data file path (:func:`load_training_data`), or a tensor
        of sequences, shape ``(n_seq, time, x_dim)``, split 80/20.
    output_dir
        Run folder; ``checkpoint.pt`` in it is the result.
    training
        Optimisation settings (default :class:`TrainingConfig`).
    resume
        Continue from ``output_dir/state.pt`` (same config and settings; ``max_epochs`` and
        ``patience`` may change). Without it an existing state is an error.
    progress
        Draw a progress bar on a terminal.
    """
    training = training or TrainingConfig()
    if isinstance(data, (str, os.PathLike)):
        data = load_training_data(data, seed=training.seed)
    elif isinstance(data, Tensor):
        data = split_data(_as_tensor(data, "data"), 0.2, training.seed, {"kind": "tensor"})
    for name, tensor in (("train", data.train), ("validation", data.validation)):
        if tensor.dim() != 3 or tensor.shape[-1] != config.x_dim:
            raise ShapeError(f"{name}: expected dims (n_seq, time, {config.x_dim}), got {tuple(tensor.shape)}")
    run_dir = Path(output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / "state.pt"
    with torch.random.fork_rng(devices=[]):  # seeded initialisation; the global RNG is left as it was
        torch.manual_seed(training.seed)
        network = build_network(config)
    optimizer = torch.optim.Adam(network.parameters(), lr=training.lr)
    history: list[dict[str, float]] = []
    best_val, best_epoch, start_epoch, elapsed = math.inf, -1, 0, 0.0
    best_state = {k: v.clone() for k, v in network.state_dict().items()}
    if state_path.exists():
        if not resume:
            raise InputError(f"{str(run_dir)!r} already holds a training run; pass resume=True (--resume) to continue")
        state = _load_state(state_path, config, training)
        network.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        best_state = state["best_state_dict"]
        best_val, best_epoch = float(state["best_val"]), int(state["best_epoch"])
        start_epoch, elapsed = int(state["epoch"]), float(state["seconds"])
        history = [dict(zip(state["history_keys"], row, strict=True)) for row in state["history"].tolist()]
        _log(run_dir, f"resumed at epoch {start_epoch} (best {best_val:.5f} at epoch {best_epoch})")
    else:
        _log(
            run_dir,
            f"training {config} with {training} on {data.train.shape[0]} + {data.validation.shape[0]} sequences",
        )
    description = {
        **data.description,
        "n_train": int(data.train.shape[0]),
        "n_validation": int(data.validation.shape[0]),
        "n_steps": int(data.train.shape[1]),
    }
    n_train = data.train.shape[0]
    stopped = "max_epochs"
    epoch = start_epoch
    with ProgressBar(training.max_epochs, desc=f"train {network.name}", enabled=progress) as bar:
        bar.count = start_epoch
        for epoch in range(start_epoch, training.max_epochs):
            if epoch - max(best_epoch, training.schedule_end) >= training.patience and epoch > training.schedule_end:
                stopped = "early"
                break
            tic = time.perf_counter()
            kl_weight, sampling = training.kl_weight(epoch), training.sampling_prob(epoch)
            gen = torch.Generator().manual_seed(training.seed * 1_000_003 + epoch)  # resumable per epoch
            perm = torch.randperm(n_train, generator=gen)
            network.train()
            total, count = 0.0, 0
            for start in range(0, n_train, training.batch_size):
                batch = data.train[perm[start : start + training.batch_size]]
                optimizer.zero_grad(set_to_none=True)
                terms = network.loss(
                    batch, kl_weight=kl_weight, sampling_prob=sampling, input_noise=training.input_noise, generator=gen
                )
                terms.loss.backward()
                if training.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(network.parameters(), training.grad_clip)
                optimizer.step()
                total += float(terms.loss.detach()) * batch.shape[0]
                count += batch.shape[0]
            val_gen = torch.Generator().manual_seed(training.seed + 7919)  # same noise every epoch
            val = _batch_losses(
                network,
                data.validation,
                training.batch_size,
                kl_weight=training.beta,
                sampling_prob=training.sampling_max,
                input_noise=training.input_noise,
                generator=val_gen,
            )
            if not math.isfinite(val):
                raise InputError(f"training diverged at epoch {epoch}: validation loss {val}; lower the learning rate")
            if val < best_val:
                best_val, best_epoch = val, epoch
                best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
            elapsed += time.perf_counter() - tic
            history.append(
                {
                    "epoch": float(epoch),
                    "train_loss": total / max(count, 1),
                    "validation_loss": val,
                    "kl_weight": kl_weight,
                    "sampling_prob": sampling,
                    "seconds": elapsed,
                }
            )
            _save_state(
                state_path,
                network,
                optimizer,
                config,
                training,
                epoch + 1,
                best_state,
                best_val,
                best_epoch,
                history,
                elapsed,
            )
            if best_epoch == epoch:
                _save_best(
                    run_dir,
                    network,
                    best_state,
                    description,
                    training,
                    best_val,
                    best_epoch,
                    epoch + 1,
                    "running",
                    elapsed,
                )
            _write_history(run_dir, history, best_epoch)
            _log(
                run_dir,
                f"epoch {epoch} train {history[-1]['train_loss']:.5f} val {val:.5f} kl_w {kl_weight:.3f} "
                f"ss {sampling:.3f} best {best_val:.5f}@{best_epoch} {elapsed:.0f}s",
            )
            bar.update(postfix=f"val {val:.4f} best {best_val:.4f}")
        else:
            epoch = training.max_epochs
    epochs_run = len(history)
    checkpoint = _save_best(
        run_dir, network, best_state, description, training, best_val, best_epoch, epochs_run, stopped, elapsed
    )
    _log(
        run_dir,
        f"finished ({stopped}) after {epochs_run} epochs: best validation loss {best_val:.5f} at epoch {best_epoch}",
    )
    return TrainingResult(
        checkpoint=checkpoint,
        validation_loss=best_val,
        best_epoch=best_epoch,
        epochs_run=epochs_run,
        stopped=stopped,
        history=history,
    )


def _save_state(
    path: Path,
    network: SequenceNetwork,
    optimizer: torch.optim.Optimizer,
    config: DVAEConfig,
    training: TrainingConfig,
    next_epoch: int,
    best_state: dict[str, Tensor],
    best_val: float,
    best_epoch: int,
    history: list[dict[str, float]],
    elapsed: float,
) -> None:
    keys = list(history[0]) if history else []
    payload = {
        "format": _STATE_FORMAT,
        "model": network.name,
        "config": config_to_dict(config),
        "training_config": attrs.asdict(training),
        "epoch": next_epoch,
        "state_dict": network.state_dict(),
        "optimizer": optimizer.state_dict(),
        "best_state_dict": best_state,
        "best_val": best_val,
        "best_epoch": best_epoch,
        "history_keys": keys,
        "history": torch.tensor([[float(h[k]) for k in keys] for h in history], dtype=torch.float64),
        "seconds": elapsed,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _save_best(
    run_dir: Path,
    network: SequenceNetwork,
    best_state: dict[str, Tensor],
    description: dict[str, Any],
    training: TrainingConfig,
    best_val: float,
    best_epoch: int,
    epochs_run: int,
    stopped: str,
    elapsed: float,
) -> Path:
    best = build_network(network.config)
    best.load_state_dict(best_state)
    info = {
        **attrs.asdict(training),
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "stopped": stopped,
        "seconds": round(elapsed, 1),
        "torch_version": str(torch.__version__),
    }
    return save_checkpoint(run_dir / "checkpoint.pt", best, data=description, training=info, validation_loss=best_val)
