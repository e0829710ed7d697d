"""Small generated audio files for the audio plugin's tests."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch


def tone(seconds: float, rate: int, freq: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    """A sine tone, shape ``(samples,)``."""
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * math.pi * freq * t)).astype(np.float32)


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    """A folder with a mono 16 kHz wav, a stereo 22.05 kHz flac and a mono ogg."""
    rng = np.random.default_rng(0)
    root = tmp_path / "audio"
    (root / "sub").mkdir(parents=True)
    silence = np.zeros(1600, dtype=np.float32)
    sf.write(root / "a.wav", np.concatenate([silence, tone(1.5, 16000), silence]), 16000)
    stereo = np.stack([tone(1.2, 22050, 300.0), 0.1 * rng.standard_normal(int(1.2 * 22050))], axis=1)
    sf.write(root / "sub" / "b.flac", stereo.astype(np.float32), 22050)
    sf.write(root / "sub" / "c.ogg", tone(1.0, 44100, 660.0), 44100)
    (root / "notes.txt").write_text("not audio")
    return root


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """These tensors are tiny: intra-op threads only add contention on a shared 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _tiny_checkpoint(path: Path, seed: int) -> Path:
    from mixseq_dvae.checkpoint import save_checkpoint
    from mixseq_dvae.config import SRNNConfig
    from mixseq_dvae.models import build_network

    config = SRNNConfig.audio(z_dim=2, rnn_dim=4, x_hidden=(8,), encoder_input_hidden=(8,), encoder_rnn_dim=4,
                              encoder_hidden=(4,), prior_hidden=(4,), decoder_hidden=(8,))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = build_network(config)
    return save_checkpoint(path, network)


@pytest.fixture(scope="module")
def tiny_sources(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``["speech=<tiny.pt>", "flute=<tiny.pt>"]``: random-weight audio SRNNs."""
    root = tmp_path_factory.mktemp("checkpoints")
    return [f"speech={_tiny_checkpoint(root / 'speech.pt', 1)}", f"flute={_tiny_checkpoint(root / 'flute.pt', 2)}"]
