"""Checkpoint round trip, the pretrained registry and every checkpoint error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mixseq.errors import CheckpointError
from mixseq_dvae._testing import SMALL_CONFIGS, boxes
from mixseq_dvae.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    load_pretrained,
    pretrained_names,
    resolve_checkpoint,
    save_checkpoint,
)
from mixseq_dvae.models import build_network


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    net = build_network(SMALL_CONFIGS["srnn-backward"])
    return save_checkpoint(
        tmp_path / "model.pt", net, data={"kind": "test"}, training={"epochs": 1}, validation_loss=1.5
    )


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_round_trip(tmp_path: Path, name: str) -> None:
    net = build_network(SMALL_CONFIGS[name])
    path = save_checkpoint(tmp_path / "m.pt", net, data={"n": 3}, validation_loss=0.25)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == CHECKPOINT_FORMAT and raw["format_version"] == 1
    loaded = load_checkpoint(path)
    assert loaded.config == net.config and loaded.model == net.name
    assert loaded.validation_loss == 0.25 and loaded.data == {"n": 3}
    x = boxes(2, 5) if net.config.x_dim == 4 else torch.rand(2, 5, net.config.x_dim) + 0.1
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    torch.testing.assert_close(net.loss(x, generator=g1).loss, loaded.network.loss(x, generator=g2).loss)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")


def test_corrupted_file(saved: Path) -> None:
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(saved)
    saved.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(saved)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="expected a dict with format"):
        load_checkpoint(path)
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="expected a dict with format"):
        load_checkpoint(path)


def _edit(path: Path, **changes) -> None:
    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    torch.save(payload, path)


def test_unknown_model(saved: Path) -> None:
    _edit(saved, model="transformer")
    with pytest.raises(CheckpointError, match="unknown model name"):
        load_checkpoint(saved)


def test_newer_format(saved: Path) -> None:
    _edit(saved, format_version=99)
    with pytest.raises(CheckpointError, match="format_version"):
        load_checkpoint(saved)


def test_config_mismatch(saved: Path) -> None:
    payload = torch.load(saved, weights_only=True)
    _edit(saved, config={**payload["config"], "rnn_dim": 12})
    with pytest.raises(CheckpointError, match="expected shape"):
        load_checkpoint(saved)
    _edit(saved, config={**payload["config"], "colour": "red"})
    with pytest.raises(CheckpointError, match="invalid config"):
        load_checkpoint(saved)


def test_weights_mismatch(saved: Path) -> None:
    payload = torch.load(saved, weights_only=True)
    state = dict(payload["state_dict"])
    state.pop(next(iter(state)))
    _edit(saved, state_dict=state)
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(saved)


def test_pretrained_registry() -> None:
    names = pretrained_names()
    for name in names:
        checkpoint = load_pretrained(name)
        assert checkpoint.validation_loss is not None
        assert checkpoint.data, "a shipped checkpoint describes its training data"
    with pytest.raises(CheckpointError, match="expected one of"):
        load_pretrained("no-such-model")
    with pytest.raises(CheckpointError, match="pretrained name"):
        resolve_checkpoint("no-such-model")


@pytest.mark.skipif("srnn-mot" not in pretrained_names(), reason="srnn-mot not shipped yet")
def test_srnn_mot_is_scale_free() -> None:
    checkpoint = load_pretrained("srnn-mot")
    assert checkpoint.model == "srnn" and checkpoint.config.x_dim == 4
    assert checkpoint.config.normalization == "first_box"
