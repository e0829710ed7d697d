from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mixseq.errors import InputError, InputWarning, ShapeError
from mixseq_audio.audioio import overlap_add, read_audio, split_chunks, write_audio

from .conftest import tone


def test_reads_mono_16k_without_warning(audio_dir: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clip = read_audio(audio_dir / "a.wav")
    assert clip.sample_rate == clip.original_sample_rate == 16000 and clip.original_channels == 1
    assert clip.waveform.dtype == torch.float32 and clip.waveform.dim() == 1
    assert clip.duration == pytest.approx(1.7)


def test_stereo_is_mixed_down_and_resampled_with_warnings(audio_dir: Path) -> None:
    with pytest.warns(InputWarning) as record:
        clip = read_audio(audio_dir / "sub" / "b.flac")
    messages = " ".join(str(w.message) for w in record)
    assert "mixed 2 channels down to mono" in messages and "resampled from 22050 Hz" in messages
    assert clip.original_channels == 2 and clip.original_sample_rate == 22050
    assert clip.waveform.shape[0] == pytest.approx(1.2 * 16000, abs=2)
    assert read_audio(audio_dir / "sub" / "c.ogg", warn=False).waveform.shape[0] == 16000


@pytest.mark.parametrize("name, content, match", [
    ("missing.wav", None, "no such file"),
    ("notes.txt", b"not audio at all", "soundfile can read"),
    ("fake.wav", b"RIFF\x00\x00\x00\x00WAVEjunk", "soundfile can read"),
])
def test_rejects_non_audio(tmp_path: Path, name: str, content: bytes | None, match: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=match):
        read_audio(path)


def test_rejects_a_folder_empty_short_and_nan_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_audio(tmp_path)
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(InputError, match="empty"):
        read_audio(tmp_path / "empty.wav")
    sf.write(tmp_path / "short.wav", np.zeros(1000, dtype=np.float32), 16000)
    with pytest.raises(InputError, match="at least 1024 samples"):
        read_audio(tmp_path / "short.wav")
    sf.write(tmp_path / "short44.wav", np.ones(2000, dtype=np.float32) * 0.1, 44100)  # 725 samples at 16 kHz
    with pytest.raises(InputError, match="at least 1024"):
        read_audio(tmp_path / "short44.wav", warn=False)
    bad = np.zeros(4000, dtype=np.float32)
    bad[100] = np.nan
    sf.write(tmp_path / "nan.wav", bad, 16000, subtype="FLOAT")
    with pytest.raises(InputError, match="finite"):
        read_audio(tmp_path / "nan.wav")


def test_silence_and_clipping_are_reported(tmp_path: Path) -> None:
    sf.write(tmp_path / "silent.wav", np.zeros(4000, dtype=np.float32), 16000)
    with pytest.warns(InputWarning, match="silent"):
        assert float(read_audio(tmp_path / "silent.wav").waveform.abs().max()) == 0.0
    clipped = np.clip(3 * tone(0.5, 16000), -1, 1)
    sf.write(tmp_path / "clipped.wav", clipped, 16000)
    with pytest.warns(InputWarning, match="clipped"):
        clip = read_audio(tmp_path / "clipped.wav")
    assert bool(torch.isfinite(clip.waveform).all())


def test_write_audio_is_atomic_and_resamples(tmp_path: Path) -> None:
    wave = torch.from_numpy(tone(1.0, 16000))
    out = write_audio(tmp_path / "deep" / "out.wav", wave, 44100, source_rate=16000)
    data, rate = sf.read(out)
    assert rate == 44100 and data.shape == (44100,)
    assert [p.name for p in out.parent.iterdir()] == ["out.wav"]
    with pytest.raises(InputError, match="non-finite"):
        write_audio(tmp_path / "nan.wav", torch.tensor([0.0, float("nan")]), 16000)
    assert not (tmp_path / "nan.wav").exists()
    with pytest.raises(ShapeError):
        write_audio(tmp_path / "x.wav", torch.zeros(1, 2, 3), 16000)


@pytest.mark.parametrize("length, chunk, overlap", [(1000, 300, 100), (300, 300, 50), (50, 300, 100), (1001, 256, 0)])
def test_split_then_overlap_add_is_exact(length: int, chunk: int, overlap: int) -> None:
    signal = torch.randn(2, length, dtype=torch.float64)
    chunks, plan = split_chunks(signal, chunk, overlap)
    assert chunks.shape == (2, plan.n_chunks, chunk)
    assert torch.equal(chunks[..., plan.mask()], signal[..., plan.indices()[plan.mask()]])
    assert torch.allclose(overlap_add(chunks, plan), signal, atol=1e-12)


def test_chunks_along_time_of_a_complex_spectrogram() -> None:
    spec = torch.randn(2, 130, 7, dtype=torch.complex128)  # (batch, time, freq)
    chunks, plan = split_chunks(spec, 50, 10, dim=1)
    assert chunks.shape == (2, plan.n_chunks, 50, 7)
    assert torch.allclose(overlap_add(chunks, plan), spec)


def test_stitching_blends_differing_chunks_without_a_seam() -> None:
    signal = torch.ones(1000, dtype=torch.float64)
    chunks, plan = split_chunks(signal, 400, 200)
    gains = torch.tensor([1.0, 2.0, 1.0, 2.0, 1.0], dtype=torch.float64)[: plan.n_chunks]
    out = overlap_add(chunks * gains[:, None], plan)
    assert bool((out >= 1).all()) and bool((out <= 2).all())
    assert float(out.diff().abs().max()) < 0.02  # a smooth cross-fade, no jump from 1 to 2


def test_split_chunks_rejects_bad_arguments() -> None:
    with pytest.raises(InputError):
        split_chunks(torch.zeros(10), 5, 5)
    with pytest.raises(InputError):
        split_chunks(torch.zeros(0), 5, 1)
    chunks, plan = split_chunks(torch.zeros(10), 5, 1)
    with pytest.raises(ShapeError):
        overlap_add(chunks[:1], plan)
