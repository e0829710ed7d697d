from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mixseq.errors import ShapeError
from mixseq_audio.plotting import plot_separation
from mixseq_audio.transforms import stft


def test_plot_separation_writes_a_png(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(8000, generator=g), torch.zeros(8000)  # a silent source must plot too
    mixture = stft(a + b)
    path = plot_separation(tmp_path / "fig.png", mixture, {"speech": stft(a), "flute": stft(b)},
                           masks={"speech": torch.ones(513, mixture.shape[-1])}, references={"speech": stft(a)},
                           title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ShapeError):
        plot_separation(tmp_path / "bad.png", torch.zeros(3), {})
    assert not (tmp_path / "bad.png").exists()
