from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mixseq_audio.corpus import FILLETS_ROOT, build_corpus, build_flute_corpus, main, speech_plan
from mixseq_audio.data import load_spectra
from mixseq_audio.midi import DEFAULT_SOUNDFONT
from mixseq_audio.mixtures import build_mixture_set, load_mixture_set

from .conftest import tone


def _tone_corpus(root: Path, name: str, freqs: list[float], seconds: float = 2.0) -> Path:
    files = []
    for i, freq in enumerate(freqs):
        path = root / "src" / name / f"{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, tone(seconds, 16000, freq), 16000)
        files.append(path)
    out = root / name
    build_corpus(out, {"test": files}, name=name, show_progress=False)
    return out


def test_mixture_set_has_the_ratio_and_sums(tmp_path: Path) -> None:
    speech = _tone_corpus(tmp_path, "speech", [200.0, 250.0, 300.0])
    flute = _tone_corpus(tmp_path, "flute", [880.0])
    manifest = build_mixture_set(tmp_path / "mix", speech_dir=speech, flute_dir=flute, snr_db=-5.0, n_frames=50,
                                 count=4)
    mixture, sources, loaded = load_mixture_set(tmp_path / "mix")
    assert loaded == manifest and manifest["count"] == mixture.shape[0] == 4
    assert mixture.shape == (4, 49 * 256) and sources.shape == (4, 2, 49 * 256)
    assert torch.allclose(sources.sum(1), mixture, atol=1e-6)
    ratio = 10 * torch.log10(sources[:, 0].square().mean(-1) / sources[:, 1].square().mean(-1))
    assert torch.allclose(ratio, torch.full((4,), -5.0), atol=1e-3)
    assert torch.allclose(mixture.abs().amax(-1), torch.ones(4))
    wav, rate = sf.read(tmp_path / "mix" / "0002" / "speech.wav")
    assert rate == 16000 and np.allclose(wav, sources[2, 0].numpy(), atol=1e-6)
    assert manifest["mixtures"][0]["speech"]["corpus"] == "speech"


@pytest.mark.skipif(not FILLETS_ROOT.is_dir(), reason="needs the Debian package fillets-ng-data-cs")
def test_speech_plan_holds_out_whole_levels() -> None:
    plan = speech_plan(test_minutes=1.0, valid_minutes=1.0, generator=torch.Generator().manual_seed(0))
    levels = {split: {p.parent.parent.name for p in files if "fillets" in str(p)} for split, files in plan.items()}
    assert levels["test"] and levels["valid"] and levels["train"]
    assert not (levels["test"] & levels["train"]) and not (levels["valid"] & levels["train"])
    assert not (levels["test"] & levels["valid"])
    assert any("librivox" in str(p) for p in plan["test"])
    again = speech_plan(test_minutes=1.0, valid_minutes=1.0, generator=torch.Generator().manual_seed(0))
    assert again == plan


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not DEFAULT_SOUNDFONT.is_file(),
                    reason="needs fluidsynth and fluid-soundfont-gm")
def test_flute_corpus_small(tmp_path: Path) -> None:
    description = build_flute_corpus(tmp_path / "flute", train_minutes=0.1, valid_minutes=0.05, test_minutes=0.05,
                                     show_progress=False)
    melodies = description["about"]["melodies"]
    assert [len(melodies[s]) for s in ("train", "valid", "test")] == [1, 1, 1]
    assert melodies["train"][0]["file"] != melodies["test"][0]["file"]
    assert (tmp_path / "flute" / melodies["test"][0]["file"]).is_file()
    train = load_spectra(tmp_path / "flute" / "train.npy")
    assert train.shape[1:] == (50, 513) and train.shape[0] >= 10 and bool(torch.isfinite(train).all())


def test_cli_folders(tmp_path: Path, audio_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--quiet", "folders", "--out", str(tmp_path / "c"), "--name", "mine", "--train", str(audio_dir)])
    assert status == 0
    description = json.loads((tmp_path / "c" / "description.json").read_text())
    assert description["name"] == "mine" and list(description["splits"]) == ["train"]
    assert "train: [" in capsys.readouterr().out
