"""``mixseq separate``: outputs, conversions and every kind of bad input."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixseq.errors import InputError
from mixseq_audio import commands

from .conftest import tone


def _run(mixture: Path, out: Path, sources: list[str], *extra: str) -> int:
    parser = argparse.ArgumentParser()
    commands.configure_separate(parser)
    args = parser.parse_args([str(mixture), "--sources", ",".join(sources), "--output-dir", str(out),
                              "--iterations", "2", *extra])
    args.quiet = True
    return commands.run_separate(args)


def _mixture(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(0)
    wave = tone(seconds, rate, 440.0) + 0.05 * rng.standard_normal(int(seconds * rate)).astype(np.float32)
    if channels == 1:
        return wave
    return np.stack([wave, 0.5 * wave[::-1]], axis=1)


def test_writes_one_file_per_source(
    tmp_path: Path, tiny_sources: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    sf.write(tmp_path / "mix.wav", _mixture(1.0, 16000), 16000, subtype="PCM_16")
    assert _run(tmp_path / "mix.wav", tmp_path / "out", tiny_sources, "--plot") == 0
    for name in ("speech", "flute"):
        data, rate = sf.read(tmp_path / "out" / f"{name}.wav")
        assert rate == 16000 and data.shape == (16000,) and np.isfinite(data).all()
    assert (tmp_path / "out" / "separation.png").stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["flute.wav", "separation.png", "speech.wav"]
    assert "speech: " in capsys.readouterr().out


def test_stereo_at_another_rate_is_mixed_down_and_written_back_at_that_rate(
    tmp_path: Path, tiny_sources: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    sf.write(tmp_path / "mix.flac", _mixture(0.7, 44100, channels=2), 44100)
    _run(tmp_path / "mix.flac", tmp_path / "out", tiny_sources)
    err = capsys.readouterr().err
    assert "mixed 2 channels down to mono" in err and "resampled from 44100 Hz to 16000 Hz" in err
    for name in ("speech", "flute"):
        data, rate = sf.read(tmp_path / "out" / f"{name}.wav")
        assert rate == 44100 and data.shape == (int(0.7 * 44100),)


def test_silence_and_clipping(tmp_path: Path, tiny_sources: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    sf.write(tmp_path / "silent.wav", np.zeros(8000, dtype=np.float32), 16000)
    _run(tmp_path / "silent.wav", tmp_path / "a", tiny_sources)
    assert "silent" in capsys.readouterr().err
    assert np.abs(sf.read(tmp_path / "a" / "speech.wav")[0]).max() == 0.0
    clipped = np.clip(3 * _mixture(0.5, 16000), -1, 1)
    sf.write(tmp_path / "clipped.wav", clipped, 16000)
    _run(tmp_path / "clipped.wav", tmp_path / "b", tiny_sources)
    assert "clipped" in capsys.readouterr().err
    assert np.isfinite(sf.read(tmp_path / "b" / "flute.wav")[0]).all()


def test_long_input_in_several_batches(tmp_path: Path, tiny_sources: list[str]) -> None:
    sf.write(tmp_path / "long.wav", _mixture(4.0, 16000), 16000)
    _run(tmp_path / "long.wav", tmp_path / "out", tiny_sources, "--max-batch", "2")
    assert sf.info(str(tmp_path / "out" / "speech.wav")).frames == 64000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("short", "at least 1024 samples"),
        ("text", "expected an audio file soundfile can read"),
        ("missing", "no such file"),
        ("empty", "expected audio samples|soundfile can read"),
    ],
)
def test_bad_inputs_write_nothing(tmp_path: Path, tiny_sources: list[str], content: str, message: str) -> None:
    path = tmp_path / "in.wav"
    if content == "short":
        sf.write(path, _mixture(0.05, 16000), 16000)  # 800 samples: less than one STFT window
    elif content == "text":
        path.write_text("not audio at all")
    elif content == "empty":
        sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(InputError, match=message):
        _run(path, tmp_path / "out", tiny_sources)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unknown_source_lists_the_known_ones(tmp_path: Path) -> None:
    sf.write(tmp_path / "mix.wav", _mixture(0.5, 16000), 16000)
    with pytest.raises(InputError, match="unknown source 'drums'; known sources: flute, speech"):
        _run(tmp_path / "mix.wav", tmp_path / "out", ["speech", "drums"])
    assert not (tmp_path / "out").exists()


def test_a_failed_write_leaves_no_partial_output(
    tmp_path: Path, tiny_sources: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sf.write(tmp_path / "mix.wav", _mixture(0.5, 16000), 16000)
    calls = {"n": 0}
    real_write = sf.write

    def failing_write(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        real_write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sf, "write", failing_write)
    with pytest.raises(OSError, match="disk full"):
        _run(tmp_path / "mix.wav", tmp_path / "out", tiny_sources)
    assert list((tmp_path / "out").iterdir()) == []


def test_registered_with_the_cli() -> None:
    from mixseq_audio import plugin

    class Cli:
        def __init__(self) -> None:
            self.commands: list[str] = []
            self.demos: list[str] = []

        def add_command(self, name: str, **_: object) -> None:
            self.commands.append(name)

        def add_demo(self, name: str, run: object) -> None:
            self.demos.append(name)

    cli = Cli()
    plugin.register_commands(cli)
    assert "separate" in cli.commands and cli.demos == ["separation"]
