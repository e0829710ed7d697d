from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from mixseq.errors import InputError, InputWarning
from mixseq_audio import plugin
from mixseq_audio.observation import STFTObservationModel

from .conftest import tone


class _FakeCli:
    def __init__(self) -> None:
        self.commands: dict[str, dict[str, Any]] = {}

    def add_command(self, name: str, *, help: str, configure: Any, run: Any) -> None:
        self.commands[name] = {"help": help, "configure": configure, "run": run}


def _parse(cli: _FakeCli, name: str, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.commands[name]["configure"](parser)
    return parser.parse_args(argv)


def test_registers_the_observation_model() -> None:
    registered: dict[str, Any] = {}
    plugin.register_observation_models(lambda name, factory: registered.setdefault(name, factory))
    assert registered == {"stft": STFTObservationModel}


def test_registered_through_the_entry_point() -> None:
    plugins = pytest.importorskip("mixseq.plugins")
    try:
        registry = plugins.registry("observation_models")
    except Exception as exc:  # the core's plugin manager is optional for this plugin's tests
        pytest.skip(f"core plugin manager unavailable: {exc}")
    if "stft" not in registry:
        pytest.skip("mixseq-audio is not installed (pip install -e plugins/audio)")
    assert registry["stft"].factory is STFTObservationModel


def test_evaluate_separation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli = _FakeCli()
    plugin.register_commands(cli)
    assert set(cli.commands) == {"separate", "evaluate-separation", "audio-corpus"}
    rng = np.random.default_rng(0)
    ref = tone(2.0, 16000, 220.0) * (np.sin(np.linspace(0, 12 * np.pi, 32000)) > 0)
    sf.write(tmp_path / "ref.wav", ref, 16000)
    sf.write(tmp_path / "est.wav", ref + 0.01 * rng.standard_normal(32000).astype(np.float32), 16000)
    args = _parse(cli, "evaluate-separation", ["--reference", str(tmp_path / "ref.wav"),
                                               "--estimate", str(tmp_path / "est.wav"), "--json"])
    assert cli.commands["evaluate-separation"]["run"](args) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"si_sdr", "rmse", "pesq", "samples"} and result["si_sdr"] > 20
    args = _parse(cli, "evaluate-separation", ["--reference", str(tmp_path / "ref.wav"),
                                               "--estimate", str(tmp_path / "est.wav"), "--no-pesq"])
    assert cli.commands["evaluate-separation"]["run"](args) == 0
    out = capsys.readouterr().out
    assert "SI-SDR" in out and "PESQ" not in out


def test_evaluate_separation_bad_inputs(tmp_path: Path) -> None:
    cli = _FakeCli()
    plugin.register_commands(cli)
    run = cli.commands["evaluate-separation"]["run"]
    sf.write(tmp_path / "ref.wav", tone(1.0, 16000), 16000)
    sf.write(tmp_path / "long.wav", tone(1.5, 16000), 16000)
    (tmp_path / "text.wav").write_text("hello")
    with pytest.raises(InputError, match=r"text\.wav"):
        run(_parse(cli, "evaluate-separation", ["--reference", str(tmp_path / "ref.wav"),
                                                "--estimate", str(tmp_path / "text.wav")]))
    with pytest.warns(InputWarning, match="lengths differ"):
        run(_parse(cli, "evaluate-separation", ["--reference", str(tmp_path / "ref.wav"),
                                                "--estimate", str(tmp_path / "long.wav"), "--no-pesq"]))
