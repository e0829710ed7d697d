from __future__ import annotations

import numpy as np
import pytest
import torch

from mixseq.errors import InputError, InputWarning
from mixseq_mot.boxes import ltwh_to_normalized_xyxy, normalized_xyxy_to_ltwh
from mixseq_mot.io import (
    MotRecords,
    batch_sequences,
    read_mot_file,
    read_seqinfo,
    read_sequence,
    to_padded,
    write_mot_file,
    write_tracks,
)

GT9 = "1,1,10,20,30,60,1,1,0.8\n1,2,100,20,30,60,0,7,1\n2,1,11,21,30,60,1,1,0.5\n"


def test_read_mot16_gt_layout(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text(GT9)
    rec = read_mot_file(path)
    assert rec.has_class and len(rec) == 3
    np.testing.assert_array_equal(rec.frame, [1, 1, 2])
    np.testing.assert_array_equal(rec.track_id, [1, 2, 1])
    np.testing.assert_array_equal(rec.cls, [1, 7, 1])
    np.testing.assert_allclose(rec.visibility, [0.8, 1, 0.5])
    np.testing.assert_allclose(rec.score, [1, 0, 1])
    np.testing.assert_array_equal(rec.line, [1, 2, 3])


def test_read_mot15_layout_and_short_rows(tmp_path):
    ten = tmp_path / "det.txt"
    ten.write_text("1,-1,10,20,30,60,0.9,4.2,5.1,0\n2,-1,10,20,30,60,0.5,-1,-1,-1\n")
    rec = read_mot_file(ten)
    assert not rec.has_class
    np.testing.assert_array_equal(rec.cls, [-1, -1])
    np.testing.assert_allclose(rec.visibility, [1, 1])
    np.testing.assert_allclose(rec.score, [0.9, 0.5])
    six = tmp_path / "six.txt"
    six.write_text("3,4,1,2,3,4\n")
    rec6 = read_mot_file(six)
    np.testing.assert_allclose(rec6.score, [1.0])
    np.testing.assert_allclose(rec6.ltwh, [[1, 2, 3, 4]])


def test_frames_out_of_order_are_sorted_and_blank_lines_skipped(tmp_path):
    path = tmp_path / "det.txt"
    path.write_text("3,-1,1,1,5,5,0.5\n\n1,-1,2,2,5,5,0.7\n1,-1,3,3,5,5,0.6\n  \n2,-1,4,4,5,5,0.9\n")
    rec = read_mot_file(path)
    np.testing.assert_array_equal(rec.frame, [1, 1, 2, 3])
    np.testing.assert_allclose(rec.ltwh[:, 0], [2, 3, 4, 1])  # file order kept within a frame
    np.testing.assert_array_equal(rec.line, [3, 4, 6, 1])


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty file"),
        ("\n  \n", "empty file"),
        ("1,1,10,20,30,60,1\n2,1,abc,20,30,60,1\n", "line 2: field 3 (left) must be a number"),
        ("1,1,10,20,30\n", "line 1: expected 6 to 10"),
        ("1,1,10,20,30,60,1\n2,1,10,20,30,60\n", "line 2: expected 7 fields"),
        ("1,1,10,20,30,60,1,1,1,1,1\n", "expected 6 to 10"),
        ("1,1,10,20,0,60,1\n", "line 1: box width (field 5) must be > 0"),
        ("1,1,10,20,30,60\n2,1,10,20,30,-4\n", "line 2: box height (field 6) must be > 0"),
        ("1,1,10,20,30,60\n2,1,nan,20,30,60\n", "line 2: field 3 (left) must be a finite number"),
        ("1,1,10,20,30,inf\n", "field 6 (height) must be a finite number"),
        ("1.5,1,10,20,30,60\n", "frame (field 1) must be an integer"),
        ("0,1,10,20,30,60\n", "frame (field 1) must be >= 1"),
        ("1,1.2,10,20,30,60\n", "id (field 2) must be an integer"),
        ("1,1,10,20,30,60,1,1.5,1\n", "class (field 8) must be an integer"),
    ],
)
def test_bad_files_name_file_line_and_expectation(tmp_path, text, needle):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=r"bad\.txt") as info:
        read_mot_file(path)
    assert needle in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_mot_file(tmp_path / "nope.txt")


def test_seqinfo(tmp_path, write_sequence):
    folder = write_sequence("S", None, None, width=1920, height=1080, length=12)
    info = read_seqinfo(folder)
    assert (info.name, info.width, info.height, info.length, info.frame_rate) == ("S", 1920, 1080, 12, 25.0)
    with pytest.raises(InputError, match=r"seqinfo.ini not found"):
        read_seqinfo(tmp_path)
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nimWidth=640\n")
    with pytest.raises(InputError, match="imheight"):
        read_seqinfo(tmp_path)
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nimWidth=640\nimHeight=-3\n")
    with pytest.raises(InputError, match="positive"):
        read_seqinfo(tmp_path)
    (tmp_path / "seqinfo.ini").write_text("no section here\n")
    with pytest.raises(InputError, match="ini"):
        read_seqinfo(tmp_path)


def test_read_sequence_requires(write_sequence):
    folder = write_sequence("S", [[1, 1, 1, 1, 5, 5, 1, 1, 1]], None, length=3)
    seq = read_sequence(folder)
    assert seq.detections is None and seq.ground_truth is not None and seq.n_frames == 3
    with pytest.raises(InputError, match="detections"):
        read_sequence(folder, require=("detections",))


def test_normalisation_uses_the_image_size():
    boxes = np.array([[1.0, 1.0, 640.0, 480.0]])
    np.testing.assert_allclose(ltwh_to_normalized_xyxy(boxes, 640, 480), [[0, 0, 1, 1]])
    np.testing.assert_allclose(ltwh_to_normalized_xyxy(boxes, 1280, 960), [[0, 0, 0.5, 0.5]])
    np.testing.assert_allclose(normalized_xyxy_to_ltwh(ltwh_to_normalized_xyxy(boxes, 1280, 960), 1280, 960), boxes)


def test_padding_and_batching(tmp_path):
    path = tmp_path / "det.txt"
    path.write_text("1,-1,1,1,64,48,0.9\n1,-1,65,49,64,48,0.8\n3,-1,1,1,64,48,0.7\n")
    rec = read_mot_file(path)
    pad = to_padded(rec, width=640, height=480, n_frames=4, name="a")
    assert pad.obs.shape == (4, 2, 4)
    np.testing.assert_array_equal(pad.obs_mask, [[1, 1], [0, 0], [1, 0], [0, 0]])
    np.testing.assert_allclose(pad.obs[0, 1], [0.1, 0.1, 0.2, 0.2])
    np.testing.assert_allclose(pad.scores[2, 0], 0.7)
    assert (pad.obs[~pad.obs_mask] == 0).all()
    with pytest.raises(InputError, match="n_obs"):
        to_padded(rec, width=640, height=480, n_obs=1)
    other = to_padded(MotRecords.from_arrays([1, 1, 1], [-1, -1, -1], np.ones((3, 4)) * 5), width=640, height=480)
    batch = batch_sequences([pad, other], dtype=torch.float64)
    assert batch.obs.shape == (2, 4, 3, 4) and batch.obs.dtype == torch.float64
    assert batch.time_mask.tolist() == [[True] * 4, [True, False, False, False]]
    assert batch.obs_mask[0, :, 2].sum() == 0 and batch.obs_mask[1, 0].all()
    assert batch.names == ("a", "") and batch.image_size.tolist() == [[640, 480], [640, 480]]


def test_write_tracks_round_trip(tmp_path):
    gen = np.random.default_rng(0)
    xy = gen.uniform(0.1, 0.5, (5, 3, 2))
    boxes = np.concatenate([xy, xy + gen.uniform(0.05, 0.3, (5, 3, 2))], axis=-1)
    mask = np.ones((5, 3), dtype=bool)
    mask[2, 1] = False
    path = write_tracks(tmp_path / "out" / "seq.txt", torch.as_tensor(boxes), width=1920, height=1080,
                        mask=mask, track_ids=np.array([7, 8, 9]), first_frame=11)
    lines = path.read_text().splitlines()
    assert len(lines) == 14 and lines[0].startswith("11,7,") and lines[0].endswith(",1,-1,-1,-1")
    rec = read_mot_file(path)
    assert set(rec.track_id.tolist()) == {7, 8, 9} and rec.frame.min() == 11
    pad = to_padded(rec, width=1920, height=1080, first_frame=11, n_frames=5)
    np.testing.assert_allclose(pad.obs[pad.obs_mask], boxes[mask], atol=1e-9)
    assert not list(path.parent.glob(".seq.txt*")), "no temporary file left behind"


def test_write_tracks_leaves_out_inverted_boxes(tmp_path):
    boxes = np.array([[[0.1, 0.1, 0.2, 0.3], [0.5, 0.1, 0.4, 0.3]]])
    with pytest.warns(InputWarning, match="left out 1"):
        path = write_tracks(tmp_path / "x.txt", boxes, width=100, height=100)
    rec = read_mot_file(path)
    assert rec.track_id.tolist() == [1]


def test_write_tracks_rejects_bad_input(tmp_path):
    with pytest.raises(InputError, match="time, source, 4"):
        write_tracks(tmp_path / "x.txt", np.zeros((3, 4)), width=10, height=10)
    with pytest.raises(InputError, match="NaN"):
        write_tracks(tmp_path / "x.txt", np.full((1, 1, 4), np.nan), width=10, height=10)
    assert not (tmp_path / "x.txt").exists()


def test_write_mot_file_round_trip(tmp_path):
    rec = MotRecords.from_arrays([2, 1], [5, 6], np.array([[1.5, 2.25, 3.0, 4.0], [10, 20, 30, 40]]), [0.5, 0.25])
    back = read_mot_file(write_mot_file(tmp_path / "r.txt", rec))
    np.testing.assert_array_equal(back.frame, [1, 2])
    np.testing.assert_allclose(back.ltwh, rec.ltwh)
    np.testing.assert_allclose(back.score, [0.25, 0.5])


def test_real_mot15_sequences(shared_data):
    for name, frames in (("TUD-Campus", 71), ("TUD-Stadtmitte", 179)):
        seq = read_sequence(shared_data / "mot15" / name, require=("detections", "ground_truth"))
        assert seq.info.width == 640 and seq.n_frames == frames
        pad = to_padded(seq.detections, width=seq.info.width, height=seq.info.height, n_frames=seq.n_frames)
        assert pad.obs.shape[0] == frames and pad.obs_mask.sum() == len(seq.detections)
        inside = pad.obs[pad.obs_mask]
        assert inside.min() > -0.2 and inside.max() < 1.2
