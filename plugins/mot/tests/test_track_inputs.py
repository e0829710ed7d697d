"""``mixseq track`` on bad input: a clear error (exit status 2, no traceback, no output file) or
documented handling, for every case of issue 4."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from mixseq.cli import main
from mixseq.errors import InputWarning
from mixseq_mot.io import read_mot_file

FAST = ["--dynamics", "linear_gaussian", "--iterations", "3", "--init", "link", "--quiet"]


def _rows(make_objects, n_frames: int = 12, n_objects: int = 3) -> tuple[list, list]:
    boxes = make_objects(n_frames, n_objects)
    gt = [[t + 1, n + 1, *boxes[t, n], 1, 1, 1.0] for t in range(n_frames) for n in range(n_objects)]
    det = [[t + 1, -1, *boxes[t, n], 0.9] for t in range(n_frames) for n in range(n_objects)]
    return gt, det


def _track(folder: Path, out: Path, *extra: str, n_sources: int = 3) -> int:
    return main(["track", str(folder), "--output-dir", str(out), "--n-sources", str(n_sources), *FAST, *extra])


def _fails(capsys, folder: Path, out: Path, match: str, *extra: str, n_sources: int = 3) -> None:
    assert _track(folder, out, *extra, n_sources=n_sources) == 2
    err = capsys.readouterr().err
    assert err.startswith("mixseq: error:") and match in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())  # no output, not even a partial one


def _write_det(folder: Path, lines: list[str]) -> None:
    (folder / "det" / "det.txt").write_text("".join(line + "\n" for line in lines))


def test_a_good_sequence_is_tracked_and_scored(tmp_path, write_sequence, make_objects, capsys):
    gt, det = _rows(make_objects)
    folder = write_sequence("S", gt, det, length=12)
    assert _track(folder, tmp_path / "out", "--json") == 0
    assert json.loads(capsys.readouterr().out)["mota"] > 0.9
    assert sorted(set(read_mot_file(tmp_path / "out" / "S.txt").track_id.tolist())) == [1, 2, 3]


@pytest.mark.parametrize(("line", "match"), [
    ("3,-1,10,20,30", "expected 6 to 10 comma-separated fields"),
    ("3,-1,10,abc,30,40,0.9", "field 4 (top) must be a number"),
    ("3,-1,10,20,0,40,0.9", "box width (field 5) must be > 0"),
    ("3,-1,10,20,30,-4,0.9", "box height (field 6) must be > 0"),
    ("3,-1,10,nan,30,40,0.9", "must be a finite number"),
    ("3,-1,10,20,30,inf,0.9", "must be a finite number"),
    ("0,-1,10,20,30,40,0.9", "frame (field 1) must be >= 1"),
    ("2.5,-1,10,20,30,40,0.9", "frame (field 1) must be an integer"),
])
def test_malformed_rows_are_clear_errors(tmp_path, write_sequence, make_objects, capsys, line, match):
    gt, det = _rows(make_objects)
    folder = write_sequence("S", gt, det, length=12)
    text = (folder / "det" / "det.txt").read_text().splitlines()
    _write_det(folder, [*text[:5], line, *text[5:]])
    _fails(capsys, folder, tmp_path / "out", match)


def test_the_error_names_the_file_and_line(tmp_path, write_sequence, make_objects, capsys):
    gt, det = _rows(make_objects)
    folder = write_sequence("S", gt, det, length=12)
    text = (folder / "det" / "det.txt").read_text().splitlines()
    _write_det(folder, [*text[:5], "3,-1,10,20,0,40,0.9", *text[5:]])
    assert _track(folder, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "det.txt: line 6: box width" in err


def test_an_empty_file_is_an_error(tmp_path, write_sequence, make_objects, capsys):
    gt, _ = _rows(make_objects)
    folder = write_sequence("S", gt, [], length=12)
    _fails(capsys, folder, tmp_path / "out", "empty file")
    _write_det(folder, ["", "   "])
    _fails(capsys, folder, tmp_path / "out", "empty file")


def test_no_detection_left_after_min_score_is_an_error(tmp_path, write_sequence, make_objects, capsys):
    gt, det = _rows(make_objects)
    folder = write_sequence("S", gt, det, length=12)
    _fails(capsys, folder, tmp_path / "out", "no detection has a score >= --min-score 0.95", "--min-score", "0.95")


def test_frames_out_of_order_are_sorted(tmp_path, write_sequence, make_objects, capsys):
    gt, det = _rows(make_objects)
    ordered = write_sequence("A", gt, det, length=12)
    # Frames in a random order; rows of one frame keep their order (it numbers the sources).
    frames = np.random.default_rng(0).permutation(12) + 1
    shuffled = write_sequence("B", gt, [row for f in frames for row in det if row[0] == f], length=12)
    assert _track(ordered, tmp_path / "a") == 0 and _track(shuffled, tmp_path / "b") == 0
    a = (tmp_path / "a" / "A.txt").read_text()
    b = (tmp_path / "b" / "B.txt").read_text()
    assert a == b


def test_more_sources_than_detections_is_handled_with_a_warning(tmp_path, write_sequence, make_objects, capsys):
    gt, det = _rows(make_objects)
    det = [row for row in det if not (row[0] <= 2 and row[2] > 150)]  # frames 1-2: only the first object
    folder = write_sequence("S", gt, det, length=12)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _track(folder, tmp_path / "out", n_sources=3) == 0  # later tracks seed the missing sources
        assert _track(folder, tmp_path / "out5", n_sources=5) == 0  # more sources than any frame has
    messages = [str(w.message) for w in caught if issubclass(w.category, InputWarning)]
    assert any("--n-sources 5 but no frame has more than 3 detections" in m for m in messages)
    tracks = read_mot_file(tmp_path / "out" / "S.txt")
    assert sorted(set(tracks.track_id.tolist())) == [1, 2, 3]
    assert len(set(read_mot_file(tmp_path / "out5" / "S.txt").track_id.tolist())) == 5


def test_missing_seqinfo_needs_the_image_size(tmp_path, write_sequence, make_objects, capsys):
    gt, det = _rows(make_objects)
    folder = write_sequence("S", gt, det, length=12)
    (folder / "seqinfo.ini").unlink()
    _fails(capsys, folder, tmp_path / "out", "pass --image-size WIDTH HEIGHT")
    assert _track(folder, tmp_path / "out", "--image-size", "640", "480") == 0
    assert (tmp_path / "out" / "S.txt").is_file()
    # A bare detection file works the same way.
    assert _track(folder / "det" / "det.txt", tmp_path / "bare", "--image-size", "640", "480") == 0
    assert (tmp_path / "bare" / "S.txt").is_file()
    _fails(capsys, folder, tmp_path / "neg", "expected two positive integers", "--image-size", "0", "480")


def test_missing_paths_are_errors(tmp_path, write_sequence, make_objects, capsys):
    gt, _ = _rows(make_objects)
    folder = write_sequence("S", gt, None, length=12)
    _fails(capsys, folder, tmp_path / "out", "expected the detection file 'det/det.txt', not found")
    _fails(capsys, tmp_path / "nowhere", tmp_path / "out", "not found")
    (tmp_path / "file").write_text("x")
    gt2, det2 = _rows(make_objects)
    good = write_sequence("G", gt2, det2, length=12)
    assert _track(good, tmp_path / "file") == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_one_bad_sequence_means_no_output_at_all(tmp_path, write_sequence, make_objects, capsys):
    gt, det = _rows(make_objects)
    good = write_sequence("A", gt, det, length=12)
    bad = write_sequence("B", gt, det, length=12)
    _write_det(bad, ["1,-1,10,20,30,40,0.9", "2,-1,10,20,30"])
    out = tmp_path / "out"
    assert main(["track", str(good), str(bad), "--output-dir", str(out), "--n-sources", "3", *FAST]) == 2
    assert "line 2" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_detections_after_the_last_frame_are_dropped_with_a_warning(tmp_path, write_sequence, make_objects):
    gt, det = _rows(make_objects)
    folder = write_sequence("S", gt, [*det, [40, -1, 10, 20, 30, 40, 0.9]], length=12)
    with pytest.warns(InputWarning, match="after the last frame 12"):
        assert _track(folder, tmp_path / "out") == 0
    assert read_mot_file(tmp_path / "out" / "S.txt").frame.max() == 12


def test_bad_options_are_clear_errors(tmp_path, write_sequence, make_objects, capsys):
    gt, det = _rows(make_objects)
    folder = write_sequence("S", gt, det, length=12)
    _fails(capsys, folder, tmp_path / "out", "--n-sources: expected an integer >= 1", n_sources=0)
    _fails(capsys, folder, tmp_path / "out", "max_iterations", "--iterations", "0")
    _fails(capsys, folder, tmp_path / "out", "unknown dynamics model", "--dynamics", "nope")


def test_command_line_options_override_the_preset():
    import argparse

    from mixseq_mot.cli import _preset, configure_track

    parser = argparse.ArgumentParser()
    configure_track(parser)
    base = ["seq", "--output-dir", "out", "--n-sources", "3"]
    paper = _preset(parser.parse_args([*base, "--preset", "paper"]))
    assert paper.name == "paper" and paper.assignment_scale == 0.008 and paper.em.max_iterations == 70
    default = _preset(parser.parse_args(base))
    assert default.name == "default" and default.starts == ("first-frame", "link", "warm-start") and default.reseed
    custom = _preset(parser.parse_args([*base, "--init", "link", "first-frame", "--no-reseed", "--iterations", "3",
                                        "--tolerance", "1e-3", "--patience", "2", "--std-ratio", "0.05"]))
    assert custom.starts == ("link", "first-frame") and not custom.reseed and custom.std_ratio == 0.05
    em = custom.em
    assert (em.max_iterations, em.min_iterations, em.tolerance, em.patience) == (3, 3, 1e-3, 2)
