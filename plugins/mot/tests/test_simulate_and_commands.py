from __future__ import annotations

import json
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch

from mixseq.errors import InputError
from mixseq_mot.io import MotRecords, read_mot_file, read_sequence, write_mot_file
from mixseq_mot.mot3t import Mot3TConfig, build_mot3t, write_mot3t
from mixseq_mot.simulate import DetectionNoise, simulate_detections


def _gt(make_objects, n_frames=40, n_objects=3):
    boxes = make_objects(n_frames, n_objects)
    rows = [[t + 1, n + 1, *boxes[t, n], 1, 1, 1.0] for t in range(n_frames) for n in range(n_objects)]
    return rows, boxes


def test_simulated_detections(tmp_path, write_sequence, make_objects):
    rows, _ = _gt(make_objects, n_frames=200)
    rows.append([1, 9, 5, 5, 10, 10, 0, 1, 1.0])  # flag 0: never detected
    seq = read_sequence(write_sequence("S", rows, None, length=200))
    gt = seq.ground_truth
    clean = simulate_detections(gt, width=640, height=480, n_frames=200,
                                noise=DetectionNoise(detect_probability=1, jitter=0, false_alarm_rate=0))
    considered = gt.select(gt.score != 0)
    np.testing.assert_allclose(clean.ltwh, considered.ltwh, atol=1e-9)
    assert (clean.track_id == -1).all() and clean.score.min() >= 0.5
    noisy = simulate_detections(gt, width=640, height=480, n_frames=200, generator=torch.Generator().manual_seed(0))
    assert 0.8 * 600 < len(noisy) < 600 + 200  # ~90 % detected, ~0.5 false alarms per frame
    again = simulate_detections(gt, width=640, height=480, n_frames=200, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(noisy.ltwh, again.ltwh)
    occluded = MotRecords.from_arrays(considered.frame, considered.track_id, considered.ltwh)
    occluded = attrs.evolve(occluded, visibility=np.zeros(len(occluded)))
    none = simulate_detections(occluded, width=640, height=480, n_frames=200,
                               noise=DetectionNoise(false_alarm_rate=0))
    assert len(none) == 0
    with pytest.raises(InputError, match="no considered"):
        simulate_detections(gt.select(gt.score == 0), width=640, height=480, n_frames=200)


def _run(name: str, argv: list[str]) -> int:
    import argparse

    from mixseq_mot import plugin

    commands = {}

    class FakeCli:
        def add_command(self, name, *, help, configure, run):
            commands[name] = (configure, run)

        def add_demo(self, name, run):
            commands[f"demo:{name}"] = (None, run)

    plugin.register_commands(cli=FakeCli())
    configure, run = commands[name]
    parser = argparse.ArgumentParser()
    configure(parser)
    args = parser.parse_args(argv)
    args.quiet = True
    return run(args)


ENGINE_ARGS = ["--dynamics", "linear_gaussian", "--iterations", "3", "--json"]


def test_track_command(tmp_path, write_sequence, make_objects, capsys):
    rows, _ = _gt(make_objects)
    det = [[row[0], -1, *row[2:6], 0.9] for row in rows]
    folder = write_sequence("S", rows, det, length=40)
    out = tmp_path / "out"
    assert _run("track", [str(folder), "--output-dir", str(out), "--n-sources", "3", "--init", "link",
                          "--plot", *ENGINE_ARGS]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["mota"] > 0.9 and payload["num_switches"] == 0
    tracks = read_mot_file(out / "S.txt")
    assert sorted(set(tracks.track_id.tolist())) == [1, 2, 3] and tracks.frame.max() == 40
    assert (out / "S.png").is_file()


def test_build_and_track_mot3t_commands(tmp_path, write_sequence, make_objects, capsys):
    rows, _ = _gt(make_objects, n_frames=70)
    gt_folder = write_sequence("S", rows, None, length=70)
    seq = read_sequence(gt_folder)
    det = simulate_detections(seq.ground_truth, width=640, height=480, n_frames=70,
                              noise=DetectionNoise(detect_probability=0.95, false_alarm_rate=0),
                              generator=torch.Generator().manual_seed(1))
    write_mot_file(gt_folder / "det" / "det.txt", det)
    assert _run("build-mot3t", [str(tmp_path), "--output-dir", str(tmp_path / "m3t"), "--lengths", "30", "60",
                                "--stride", "20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("T=30:") and "-> " in lines[0]
    assert _run("track-mot3t", [str(tmp_path / "m3t" / "mot3t_T30.npz"), "--batch-size", "2", *ENGINE_ARGS]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["num_objects"] > 0 and payload["mota"] > 0.5


def test_track_mot3t_rejects_an_empty_data_set(tmp_path, write_sequence, make_objects):
    rows, _ = _gt(make_objects, n_frames=10)
    folder = write_sequence("S", rows, [[1, -1, 1, 1, 5, 5, 1]], length=10)
    data = build_mot3t(folder, config=Mot3TConfig(lengths=(10,)))[10]
    path = write_mot3t(data, tmp_path / "empty.npz")
    with pytest.raises(InputError, match="no samples"):
        _run("track-mot3t", [str(Path(path)), *ENGINE_ARGS])
