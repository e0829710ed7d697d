"""The ``tracking`` part of ``mixseq demo``: real TUD-Campus ground truth from the motmetrics wheel."""

from __future__ import annotations

from mixseq.cli import main
from mixseq_mot import demo, read_mot_file


def test_campus_ground_truth_ships_with_motmetrics() -> None:
    gt = read_mot_file(demo.campus_ground_truth())
    assert gt.frame.max() == 71 and len(set(gt.track_id.tolist())) == 8


def test_tracking_demo_runs_and_saves_a_plot(tmp_path, monkeypatch, capsys) -> None:
    # A shorter window and fewer EM iterations keep the test fast.
    monkeypatch.setattr(demo, "N_FRAMES", 30)
    make = demo.make_tracker
    monkeypatch.setattr(demo, "make_tracker", lambda preset, **kw: make(preset, max_iterations=5, **kw))
    assert main(["demo", "--only", "tracking", "--output-dir", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "== demo: tracking ==" in out and "default preset" in out
    assert "MOTA" in out and "IDF1" in out
    assert (tmp_path / "tracking-tud-campus.png").stat().st_size > 10_000
    tracks = read_mot_file(tmp_path / "tracking-tud-campus.txt")
    assert tracks.frame.max() == 30 and sorted(set(tracks.track_id.tolist())) == [1, 2, 3]
