from __future__ import annotations

import numpy as np
import pytest
import torch

from mixseq.errors import InputError
from mixseq_mot.boxes import ltwh_to_normalized_xyxy
from mixseq_mot.mot3t import Mot3TConfig, build_mot3t, load_mot3t, write_mot3t

N_FRAMES = 100


def _rows(boxes, ids, frames, extra):
    return [[f, i, *b, *extra] for f, i, b in zip(frames, ids, boxes, strict=True)]


@pytest.fixture
def mot17_root(tmp_path, write_sequence, make_objects):
    """A MOT17-layout training folder with one SDP and one DPM copy of a sequence.

    Objects (ids): 1-3 visible and detected (3 missed in frames 21-31, 2 missed at frame
    43); 4 detected in only 30 % of frames; 5 visible in frames 1-50 only; 6 is class 2;
    7 is flagged 0. Plus one clutter detection per frame, listed first.
    """
    boxes = make_objects(N_FRAMES, 7)  # (time, object, 4) pixels
    gen = np.random.default_rng(3)
    gt, det = [], []
    for t in range(N_FRAMES):
        f = t + 1
        det.append([f, -1, 600, 400, 20, 40, 0.3, -1, -1, -1])  # clutter, far from everyone
        for obj in (3, 1, 2, 4, 5, 6, 7):  # det.txt order within a frame: 3, 1, 2, ...
            if obj == 5 and f > 50:
                continue
            flag, cls = (0, 1) if obj == 7 else (1, 2) if obj == 6 else (1, 1)
            gt.append([f, obj, *boxes[t, obj - 1], flag, cls, 1.0])
            missed = (obj == 3 and 21 <= f <= 31) or (obj == 2 and f == 43) or (obj == 4 and f % 10 >= 3)
            if not missed:
                jitter = gen.normal(0, 0.5, 4)
                det.append([f, -1, *(boxes[t, obj - 1] + jitter), 0.9, -1, -1, -1])
    root = tmp_path / "train"
    write_sequence("MOT17-02-SDP", gt, det, length=N_FRAMES, root=root)
    write_sequence("MOT17-02-DPM", gt, det[::2], length=N_FRAMES, root=root)
    return root, boxes


def test_builds_the_paper_protocol(mot17_root, tmp_path):
    root, boxes = mot17_root
    config = Mot3TConfig(lengths=(60,), stride=40)
    data = build_mot3t(root, config=config, detector="SDP", generator=torch.Generator().manual_seed(0))[60]
    # Window [1, 60]: objects 1-3 eligible (3 detected in 49/60 frames). Window [41, 100]:
    # object 2 is missed in its third frame, so only two objects remain: no sample.
    assert data.n_windows == 1 and len(data) == 1
    assert data.obs.shape == (1, 60, 3, 4) and data.gt_boxes.shape == (1, 60, 3, 4)
    assert data.gt_ids.tolist() == [[1, 2, 3]] and data.start_frame.tolist() == [1]
    assert data.sequence.tolist() == ["MOT17-02-SDP"] and data.image_size.tolist() == [[640, 480]]
    assert data.gt_mask.all()
    np.testing.assert_allclose(data.gt_boxes[0], ltwh_to_normalized_xyxy(boxes[:60, :3], 640, 480))
    # Detections: det.txt order (object 3, then 1, then 2), detected ones first.
    assert data.obs_object[0, 0].tolist() == [2, 0, 1]
    assert data.obs_mask[0, 25].tolist() == [True, True, False]
    assert data.obs_object[0, 25].tolist() == [0, 1, -1]
    assert (data.obs[0, 25, 2] == 0).all()
    assert data.obs_mask.sum() == 3 * 60 - 11 - 1  # object 3: frames 21-31, object 2: frame 43
    # Each observation is its object's (jittered) box.
    t, k = np.nonzero(data.obs_mask[0])
    error = np.abs(data.obs[0, t, k] - data.gt_boxes[0, t, data.obs_object[0, t, k]])
    assert error.max() < 0.02


def test_write_and_load(mot17_root, tmp_path):
    root, _ = mot17_root
    datasets = build_mot3t(root, config=Mot3TConfig(lengths=(60, 80)), detector="SDP",
                           generator=torch.Generator().manual_seed(0))
    assert set(datasets) == {60, 80}
    for length, data in datasets.items():
        path = write_mot3t(data, tmp_path / f"m{length}.npz")
        back = load_mot3t(path)
        assert back.length == length and back.n_windows == data.n_windows and len(back) == len(data)
        for key in ("obs", "obs_mask", "obs_object", "gt_boxes", "gt_ids", "sequence", "start_frame"):
            np.testing.assert_array_equal(getattr(back, key), getattr(data, key))
        assert back.config == data.config
    obs, mask = back.tensors(torch.float64)
    assert obs.shape[:3] == mask.shape and obs.dtype == torch.float64
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"bad\.npz"):
        load_mot3t(tmp_path / "bad.npz")


def test_visibility_rule_and_detector_filter(mot17_root):
    root, _ = mot17_root
    gt_file = root / "MOT17-02-SDP" / "gt" / "gt.txt"
    lines = gt_file.read_text().splitlines()
    # Object 1 only 30 % visible in frame 10.
    lines = [ln[: ln.rfind(",")] + ",0.3" if ln.startswith("10,1,") else ln for ln in lines]
    gt_file.write_text("\n".join(lines) + "\n")
    loose = build_mot3t(root, config=Mot3TConfig(lengths=(60,)), detector="SDP")[60]
    strict = build_mot3t(root, config=Mot3TConfig(lengths=(60,), min_visibility=0.5), detector="SDP")[60]
    assert len(loose) == 1 and len(strict) == 0
    both = build_mot3t(root, config=Mot3TConfig(lengths=(60,)))[60]
    assert set(both.sequence.tolist()) <= {"MOT17-02-SDP", "MOT17-02-DPM"}
    with pytest.raises(InputError, match="FRCNN"):
        build_mot3t(root, detector="FRCNN")


def test_triplet_sampling_is_seeded_and_distinct(tmp_path, write_sequence, make_objects):
    boxes = make_objects(60, 5)
    gt = [[t + 1, n + 1, *boxes[t, n], 1, 1, 1] for t in range(60) for n in range(5)]
    det = [[t + 1, -1, *boxes[t, n], 0.9, -1, -1, -1] for t in range(60) for n in range(5)]
    write_sequence("S", gt, det, length=60)

    def build(n, seed):
        cfg = Mot3TConfig(lengths=(60,), n_triplets=n)
        return build_mot3t(tmp_path / "S", config=cfg, generator=torch.Generator().manual_seed(seed))[60]

    four = build(4, 0)
    assert len(four) == 4 and len({tuple(ids) for ids in four.gt_ids.tolist()}) == 4
    np.testing.assert_array_equal(build(4, 0).gt_ids, four.gt_ids)
    assert len(build(20, 0)) == 10  # all C(5, 3) triplets when there are fewer than asked
    other = {tuple(ids) for seed in range(1, 6) for ids in build(4, seed).gt_ids.tolist()}
    assert len(other) > 4


def test_needs_detections_and_ground_truth(tmp_path, write_sequence):
    write_sequence("S", [[1, 1, 1, 1, 5, 5, 1, 1, 1]], None, length=1)
    with pytest.raises(InputError, match="detections"):
        build_mot3t(tmp_path / "S")
    with pytest.raises(InputError, match="sequence folders"):
        build_mot3t(tmp_path / "S" / "gt")


def test_duplicate_ground_truth_rows_are_rejected(tmp_path, write_sequence):
    row = [1, 1, 1, 1, 5, 5, 1, 1, 1]
    write_sequence("S", [row, row], [[1, -1, 1, 1, 5, 5, 1]], length=1)
    with pytest.raises(InputError, match="two rows for id 1"):
        build_mot3t(tmp_path / "S", config=Mot3TConfig(lengths=(1,)))


def test_real_mot15(shared_data):
    data = build_mot3t(shared_data / "mot15", generator=torch.Generator().manual_seed(0))
    assert set(data) == {60, 120, 300}
    assert data[60].n_windows >= 1 and len(data[60]) >= 1
    assert len(data[300]) == 0  # both sequences are shorter than 300 frames
    assert data[60].obs_mask[:, :5].all()  # every object detected in its first five frames
    per_object = np.stack([(data[60].obs_object == j).sum(axis=(1, 2)) / 60 for j in range(3)], axis=-1)
    assert per_object.min() >= 0.65
