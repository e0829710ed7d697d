"""One-step predictive NLL: networks, linear-Gaussian baselines, MOT ground-truth windows."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from mixseq_dvae._testing import SMALL_CONFIGS, boxes
from mixseq_dvae.baselines import fit_linear_gaussian, linear_gaussian_one_step_nll
from mixseq_dvae.evaluate import load_mot_gt_windows, network_one_step_nll
from mixseq_dvae.models import build_network


def test_network_nll_shapes_and_particles() -> None:
    x = boxes(5, 8)
    for name in ("srnn-first_box", "deep_ar", "srnn-relative"):
        net = build_network(SMALL_CONFIGS[name])
        nll = network_one_step_nll(net, x, n_particles=8, chunk=2, generator=torch.Generator().manual_seed(0))
        assert nll.shape == (5, 8) and bool(torch.isnan(nll[:, 0]).all())
        assert bool(torch.isfinite(nll[:, 1:]).all())


def test_deep_ar_nll_is_its_gaussian_prediction() -> None:
    net = build_network(SMALL_CONFIGS["deep_ar"]).double()
    x = boxes(2, 5).double()
    nll = network_one_step_nll(net, x)
    out = net.full_pass(torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], 1), x, None, generator=None)
    manual = 0.5 * (math.log(2 * math.pi) + out.logvar + (x - out.mean).square() / out.logvar.exp()).sum(-1)
    torch.testing.assert_close(nll[:, 1:], manual[:, 1:])


def test_linear_gaussian_nll() -> None:
    t = torch.arange(6, dtype=torch.float64)
    x = torch.stack([0.1 + 0.01 * t, 0.2 + 0.0 * t], -1)[None]  # constant velocity
    params = fit_linear_gaussian(
        torch.cat([x, x + 0.001 * torch.randn(1, 6, 2, generator=torch.Generator().manual_seed(0))]), order=2
    )
    assert params["process_variance"].shape == (2,)
    nll = linear_gaussian_one_step_nll(x, order=2, process_variance=torch.tensor([1e-4, 1e-4]), initial_variance=1.0)
    expected = 2 * 0.5 * math.log(2 * math.pi * 1e-4)  # exact constant-velocity prediction from t = 2
    torch.testing.assert_close(nll[0, 2:], torch.full((4,), expected, dtype=torch.float64))


def test_mot_gt_windows(tmp_path: Path) -> None:
    seq = tmp_path / "MOT17-99"
    (seq / "gt").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text(
        "[Sequence]\nname=MOT17-99\nframeRate=30\nseqLength=70\nimWidth=100\nimHeight=50\n"
    )
    rows = [f"{f},1,{10 + f},5,10,20,1,1,1.0" for f in range(1, 71)]
    rows += [f"{f},2,30,5,10,20,1,1,1.0" for f in range(1, 50)]  # too short for a 60-frame window
    rows += [f"{f},3,30,5,10,20,0,1,1.0" for f in range(1, 71)]  # not counted by the benchmark
    (seq / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    windows = load_mot_gt_windows(seq, n_steps=60, stride=40)
    assert windows.shape == (1, 60, 4)
    torch.testing.assert_close(windows[0, 0], torch.tensor([0.11, 0.1, 0.21, 0.5]))


def test_filtering_rmse_runs_for_dvae_and_vkf() -> None:
    from mixseq_dvae.baselines import vkf
    from mixseq_dvae.dynamics import SRNNDynamicsModel
    from mixseq_dvae.evaluate import filtering_rmse

    x = boxes(3, 12)
    for model in (vkf(), SRNNDynamicsModel(config=SMALL_CONFIGS["srnn-relative"], seed=0)):
        out = filtering_rmse(model, x, iterations=2, generator=torch.Generator().manual_seed(0))
        assert set(out) == {"detections", "model"} and all(math.isfinite(v) for v in out.values())
