"""train_dynamics: outputs, resume, data files, the CLI and the plugin hooks."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from mixseq.errors import InputError
from mixseq_dvae._testing import boxes
from mixseq_dvae.checkpoint import load_checkpoint
from mixseq_dvae.config import DeepARConfig, SRNNConfig
from mixseq_dvae.training import TrainingConfig, TrainingData, load_training_data, train_dynamics

TINY = TrainingConfig(batch_size=16, max_epochs=3, kl_warmup_epochs=2, sampling_start=1, sampling_end=2, patience=5)


def _data() -> TrainingData:
    return TrainingData(train=boxes(32, 8, seed=0), validation=boxes(16, 8, seed=1), description={"kind": "test"})


def test_train_writes_run_folder(tmp_path: Path) -> None:
    result = train_dynamics(SRNNConfig(normalization="first_box"), _data(), tmp_path, training=TINY, progress=False)
    for name in ("checkpoint.pt", "state.pt", "history.csv", "validation.png", "train.log"):
        assert (tmp_path / name).is_file(), name
    rows = list(csv.DictReader(open(tmp_path / "history.csv")))
    assert len(rows) == 3 and result.epochs_run == 3
    checkpoint = load_checkpoint(result.checkpoint)
    assert checkpoint.validation_loss == pytest.approx(result.validation_loss)
    assert checkpoint.data["n_train"] == 32 and checkpoint.data["kind"] == "test"
    assert checkpoint.training["best_epoch"] == result.best_epoch


def test_resume_continues(tmp_path: Path) -> None:
    short = TrainingConfig(
        batch_size=16, max_epochs=2, kl_warmup_epochs=2, sampling_start=1, sampling_end=2, patience=5
    )
    train_dynamics(DeepARConfig(), _data(), tmp_path / "a", training=short, progress=False)
    with pytest.raises(InputError, match="resume"):
        train_dynamics(DeepARConfig(), _data(), tmp_path / "a", training=TINY, progress=False)
    resumed = train_dynamics(DeepARConfig(), _data(), tmp_path / "a", training=TINY, resume=True, progress=False)
    straight = train_dynamics(DeepARConfig(), _data(), tmp_path / "b", training=TINY, progress=False)
    assert resumed.epochs_run == 3
    assert resumed.validation_loss == pytest.approx(straight.validation_loss, rel=1e-5)


def test_data_files(tmp_path: Path) -> None:
    seqs = boxes(20, 6).numpy()
    np.savez(tmp_path / "d.npz", sequences=seqs, description='{"kind": "npz"}')
    data = load_training_data(tmp_path / "d.npz", validation_fraction=0.25)
    assert data.train.shape == (15, 6, 4) and data.validation.shape == (5, 6, 4)
    assert data.description["kind"] == "npz"
    torch.save({"train": torch.from_numpy(seqs), "validation": torch.from_numpy(seqs[:3])}, tmp_path / "d.pt")
    assert load_training_data(tmp_path / "d.pt").validation.shape == (3, 6, 4)
    torch.save({"other": 1}, tmp_path / "bad.pt")
    with pytest.raises(InputError, match="expected keys"):
        load_training_data(tmp_path / "bad.pt")


def test_schedules() -> None:
    cfg = TrainingConfig()
    assert cfg.kl_weight(0) == 0.0 and cfg.kl_weight(10) == 0.5 and cfg.kl_weight(50) == 1.0
    assert cfg.sampling_prob(20) == 0.0 and cfg.sampling_prob(60) == 0.5 and cfg.sampling_prob(200) == 1.0
    assert cfg.schedule_end == 100


def test_cli_train_dynamics(tmp_path: Path) -> None:
    from mixseq_dvae import cli

    torch.save({"train": boxes(24, 6), "validation": boxes(8, 6, seed=2)}, tmp_path / "data.pt")
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    args = parser.parse_args(
        [
            "--model",
            "srnn",
            "--data",
            str(tmp_path / "data.pt"),
            "--output",
            str(tmp_path / "run"),
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--normalization",
            "first_box",
        ]
    )
    assert cli.run(args) == 0
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt").config.normalization == "first_box"


def test_plugin_hooks() -> None:
    from mixseq_dvae import plugin

    registered: dict[str, object] = {}
    plugin.register_dynamics_models(register=lambda name, factory: registered.__setitem__(name, factory))
    assert sorted(registered) == ["deep_ar", "dkf", "srnn", "vkf", "vrnn"]
    commands: dict[str, dict] = {}

    class FakeCli:
        def add_command(self, name, **kwargs):
            commands[name] = kwargs

    plugin.register_commands(cli=FakeCli())
    assert "train-dynamics" in commands


def test_registered_through_entry_points() -> None:
    plugins = pytest.importorskip("mixseq.plugins")
    entries = plugins.registry("dynamics_models")
    if "srnn" not in entries:
        pytest.skip("mixseq-dvae is not installed in this environment")
    model = plugins.create_component("dynamics_models", "deep_ar", config=DeepARConfig())
    assert model.state_dim == 4
