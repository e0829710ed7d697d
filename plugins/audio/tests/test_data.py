from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mixseq.errors import InputError, ShapeError
from mixseq_audio.corpus import build_corpus
from mixseq_audio.data import (
    CorpusConfig,
    chunk_frames,
    list_audio_files,
    load_segments,
    load_spectra,
    mix_at_snr,
    peak_normalize,
    prepare_segment,
    spectra_from_segments,
    trim_silence,
    wsj0_files,
)

from .conftest import tone


def test_peak_normalize_is_batched_and_safe_on_silence() -> None:
    x = torch.stack([torch.tensor([0.1, -0.4, 0.2]), torch.zeros(3)])
    y, gain = peak_normalize(x, 0.8)
    assert torch.allclose(y[0].abs().max(), torch.tensor(0.8)) and torch.equal(y[1], torch.zeros(3))
    assert gain.tolist() == pytest.approx([2.0, 1.0])


def test_trim_silence_keeps_a_margin() -> None:
    wave = torch.cat([torch.zeros(8000), torch.from_numpy(tone(1.0, 16000)), torch.zeros(8000)])
    trimmed = trim_silence(wave, margin=0.05)
    assert trimmed.shape[0] == pytest.approx(16000 + 2 * 800, abs=2 * 320)
    assert trim_silence(torch.zeros(5000)).shape == (0,)
    with pytest.raises(ShapeError):
        trim_silence(torch.zeros(2, 100))


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 12.5])
def test_mix_at_snr_hits_the_ratio(snr_db: float) -> None:
    g = torch.Generator().manual_seed(0)
    speech, music = torch.randn(2, 4000, generator=g), 3 * torch.randn(2, 4000, generator=g)
    mixture, scaled = mix_at_snr(speech, music, snr_db)
    ratio = 10 * torch.log10(speech.square().mean(-1) / scaled.square().mean(-1))
    assert torch.allclose(ratio, torch.full((2,), snr_db), atol=1e-4)
    assert torch.allclose(mixture, speech + scaled)
    silent, _ = mix_at_snr(speech, torch.zeros_like(music), snr_db)
    assert torch.equal(silent, speech)


def test_chunk_frames_covers_the_end() -> None:
    frames = torch.arange(120.0)[:, None].expand(120, 3)
    chunks = chunk_frames(frames, 50)
    assert chunks.shape == (3, 50, 3)
    assert chunks[:, 0, 0].tolist() == [0.0, 50.0, 70.0] and float(chunks[-1, -1, 0]) == 119.0
    assert chunk_frames(frames[:49], 50).shape == (0, 50, 3)
    assert chunk_frames(frames[:100], 50).shape == (2, 50, 3)


def test_prepare_segment_mixes_down_resamples_trims_normalises(audio_dir: Path) -> None:
    config = CorpusConfig()
    segment = prepare_segment(audio_dir / "a.wav", config)
    assert segment is not None and float(segment.abs().max()) == pytest.approx(1.0)
    assert segment.shape[0] < 16000 * 1.7  # the 0.1 s of silence at each end is gone
    assert prepare_segment(audio_dir / "sub" / "b.flac", config).shape[0] == pytest.approx(1.2 * 16000, abs=800)


def test_build_corpus_from_folders_round_trips(audio_dir: Path, tmp_path: Path) -> None:
    files = list_audio_files(audio_dir)
    assert [f.name for f in files] == ["a.wav", "b.flac", "c.ogg"]
    config = CorpusConfig(chunk_frames=20)
    out = tmp_path / "corpus"
    description = build_corpus(out, {"train": files[:2], "test": files[2:]}, name="tones", config=config,
                               show_progress=False)
    assert json.loads((out / "description.json").read_text()) == description
    train = load_spectra(out / "train.npy")
    assert train.dtype == torch.float32 and train.shape[1:] == (20, 513)
    assert list(train.shape) == description["splits"]["train"]["shape"]
    segments = load_segments(out, "train")
    assert len(segments) == 2
    assert torch.equal(spectra_from_segments(segments, config), train)
    peak_bin = int(train[:, 10].mean(0).argmax())  # a 440 Hz or a 300 Hz tone dominates
    assert peak_bin in {19, 28}  # bin = f · 1024 / 16000
    assert description["splits"]["test"]["segments"][0]["source"].endswith("c.ogg")


def test_build_corpus_skips_unreadable_files(tmp_path: Path, audio_dir: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"garbage")
    description = build_corpus(tmp_path / "c", {"train": [bad, audio_dir / "a.wav"]}, name="x",
                               show_progress=False)
    assert len(description["splits"]["train"]["segments"]) == 1


def test_wsj0_layout(tmp_path: Path) -> None:
    root = tmp_path / "wsj0"
    for folder, speaker in (("si_tr_s", "01t"), ("si_dt_05", "050"), ("si_et_05", "440")):
        (root / folder / speaker).mkdir(parents=True)
        sf.write(root / folder / speaker / f"{speaker}c0201.wav", tone(0.5, 16000), 16000)
    files = wsj0_files(tmp_path)  # the parent of wsj0/ works too
    assert {k: [p.parent.name for p in v] for k, v in files.items()} == {
        "train": ["01t"], "valid": ["050"], "test": ["440"]}
    (root / "si_et_05" / "440" / "440c0201.wav").unlink()
    with pytest.raises(InputError, match="no audio file"):
        wsj0_files(root)
    with pytest.raises(InputError, match="missing si_tr_s"):
        wsj0_files(tmp_path / "elsewhere")


def test_list_audio_files_rejects_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        list_audio_files(tmp_path / "nope")
    assert list_audio_files([tmp_path]) == []


def test_load_spectra_checks_dims(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ShapeError):
        load_spectra(tmp_path / "x.npy")
