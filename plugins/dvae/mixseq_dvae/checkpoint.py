"""Checkpoints of trained networks, and the registry of shipped pretrained ones.

Format (version 1): a ``torch.save``'d dict of plain values and tensors, loadable with
``torch.load(path, weights_only=True)``:

==========================  ================================================================
key                         value
==========================  ================================================================
``"format"``                ``"mixseq-dvae-checkpoint"``
``"format_version"``        ``1``
``"model"``                 model name: ``"srnn"``, ``"vrnn"``, ``"dkf"`` or ``"deep_ar"``
``"config"``                the full model config (:func:`~mixseq_dvae.config.config_to_dict`)
``"state_dict"``            the network weights
``"data"``                  description of the training data (a dict of plain values)
``"training"``              training settings and outcome (epochs, best epoch, ...)
``"mixseq_dvae_version"``   version of the package that wrote it
``"validation_loss"``       final (best) validation loss per frame, ``float``
==========================  ================================================================

Every problem while loading raises :class:`mixseq.errors.CheckpointError`.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import torch

from mixseq.errors import CheckpointError, InputError
from mixseq.fileio import atomic_path
from mixseq_dvae._version import __version__
from mixseq_dvae.base import SequenceNetwork
from mixseq_dvae.config import DVAEConfig, config_from_dict, config_to_dict
from mixseq_dvae.models import MODEL_NAMES, build_network

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_FORMAT_VERSION",
    "Checkpoint",
    "load_checkpoint",
    "load_pretrained",
    "pretrained_names",
    "pretrained_path",
    "resolve_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "mixseq-dvae-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
_REQUIRED = ("model", "config", "state_dict")


@attrs.frozen(kw_only=True)
class Checkpoint:
    """A loaded checkpoint: the network (in eval mode) plus its provenance."""

    model: str
    config: DVAEConfig
    network: SequenceNetwork
    data: dict[str, Any]
    training: dict[str, Any]
    version: str
    validation_loss: float | None
    path: str | None = None


def save_checkpoint(
    path: str | os.PathLike[str],
    network: SequenceNetwork,
    *,
    data: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    validation_loss: float | None = None,
) -> Path:
    """Write ``network`` to ``path`` atomically in the documented format."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "model": network.name,
        "config": config_to_dict(network.config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in network.state_dict().items()},
        "data": dict(data or {}),
        "training": dict(training or {}),
        "mixseq_dvae_version": __version__,
        "validation_loss": None if validation_loss is None else float(validation_loss),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint: expected an existing file, got {str(path)!r} (not found)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {str(path)!r}: expected a torch file saved by mixseq-dvae, but it cannot be "
            f"read (corrupted, truncated or another format): {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        kind = (
            f"dict with keys {sorted(map(str, payload))[:8]}" if isinstance(payload, dict) else type(payload).__name__
        )
        raise CheckpointError(
            f"checkpoint {str(path)!r}: expected a dict with format={CHECKPOINT_FORMAT!r}, got a {kind}"
        )
    version = payload.get("format_version")
    if not isinstance(version, int) or version > CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r}: expected format_version <= {CHECKPOINT_FORMAT_VERSION}, got "
            f"{version!r}; upgrade mixseq-dvae"
        )
    missing = [k for k in _REQUIRED if k not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r}: expected keys {list(_REQUIRED)}, missing {missing}")
    return payload


def network_from_payload(payload: dict[str, Any], *, source: str = "checkpoint") -> SequenceNetwork:
    """Rebuild and fill the network described by a checkpoint dict."""
    model = payload["model"]
    if model not in MODEL_NAMES:
        raise CheckpointError(f"{source}: unknown model name: expected one of {MODEL_NAMES}, got {model!r}")
    if not isinstance(payload["config"], dict):
        raise CheckpointError(f"{source}: expected the config as a dict, got {type(payload['config']).__name__}")
    try:
        config = config_from_dict(model, payload["config"])
    except InputError as exc:
        raise CheckpointError(f"{source}: invalid config: {exc}") from exc
    network = build_network(config)
    state = payload["state_dict"]
    expected = network.state_dict()
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: expected state_dict as a dict, got {type(state).__name__}")
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: weights do not fit the {model} config: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for key, value in expected.items():
        got = state[key]
        if not isinstance(got, torch.Tensor) or got.shape != value.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckpointError(
                f"{source}: weight {key!r} does not fit the config: expected shape {tuple(value.shape)}, got {shape}"
            )
    network.load_state_dict(state)
    network.eval()
    return network


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load and validate a checkpoint file.

    Raises :class:`CheckpointError` if the file is missing, corrupted, not a mixseq-dvae
    checkpoint, names an unknown model, or its weights do not fit its config.
    """
    path = Path(path)
    payload = _read(path)
    network = network_from_payload(payload, source=f"checkpoint {str(path)!r}")
    loss = payload.get("validation_loss")
    return Checkpoint(
        model=payload["model"],
        config=network.config,
        network=network,
        data=dict(payload.get("data") or {}),
        training=dict(payload.get("training") or {}),
        version=str(payload.get("mixseq_dvae_version", "unknown")),
        validation_loss=None if loss is None else float(loss),
        path=str(path),
    )


def _pretrained_dir() -> Path:
    return Path(str(resources.files("mixseq_dvae") / "pretrained"))


def pretrained_names() -> list[str]:
    """Names of the shipped pretrained checkpoints (``srnn-mot``, ``deep_ar-mot``, ...)."""
    folder = _pretrained_dir()
    return sorted(p.stem for p in folder.glob("*.pt")) if folder.is_dir() else []


def pretrained_path(name: str) -> Path:
    """The file of the shipped checkpoint ``name``."""
    path = _pretrained_dir() / f"{name}.pt"
    if not path.is_file():
        raise CheckpointError(f"pretrained checkpoint: expected one of {pretrained_names()}, got {name!r}")
    return path


def load_pretrained(name: str) -> Checkpoint:
    """Load the shipped checkpoint ``name``, e.g. ``load_pretrained("srnn-mot")``."""
    return load_checkpoint(pretrained_path(name))


def resolve_checkpoint(checkpoint: str | os.PathLike[str] | Checkpoint) -> Checkpoint:
    """A checkpoint from a pretrained name, a file path, or a loaded :class:`Checkpoint`."""
    if isinstance(checkpoint, Checkpoint):
        return checkpoint
    text = str(checkpoint)
    if text in pretrained_names():
        return load_pretrained(text)
    if os.sep in text or text.endswith(".pt") or Path(text).exists():
        return load_checkpoint(text)
    raise CheckpointError(f"checkpoint: expected a pretrained name {pretrained_names()} or a file path, got {text!r}")
