"""One-step-ahead predictive NLL of dynamics models on box trajectories.

``-log p(x_t | x_{<t})`` per step, in the units of the given states (image-normalised box
coordinates), summed over the 4 coordinates, averaged over sequences and steps
``t = 1 … T-1`` (step 0 has no past and is skipped for every model).

* Networks with latents (SRNN, VRNN, DKF): a particle filter over ``z`` driven by the true
  past states (``n_particles`` particles, resampling when the effective sample size falls
  below half). Particles are proposed by the causal encoder where the network has one
  (SRNN for boxes, VRNN) and weighted by ``p(x_t | ·) p(z_t | ·) / q(z_t | ·)``; otherwise by
  the prior (bootstrap filter). ``Σ_k W_{t-1}^k w_t^k`` estimates ``p(x_t | x_{<t})``.
* Deep AR: its Gaussian prediction.
* VKF: linear-Gaussian models (random walk, constant velocity) with maximum-likelihood noise
  fitted on the training split (:mod:`mixseq_dvae.baselines`).

Real trajectories: :func:`load_mot_gt_windows` cuts MOTChallenge ground truth into windows of
``n_steps`` frames in which one pedestrian is annotated in every frame.

Command line::

    python -m mixseq_dvae.evaluate --data boxes.pt --checkpoint srnn-mot deep_ar-mot \\
        --mot /path/MOT17-09 --mot /path/TUD-Stadtmitte --output nll.json
"""

from __future__ import annotations

import argparse
import configparser
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mixseq.errors import InputError
from mixseq.interfaces import DynamicsModel, Gaussian, GaussianMessage
from mixseq_dvae.base import SequenceNetwork
from mixseq_dvae.baselines import fit_linear_gaussian, linear_gaussian_one_step_nll
from mixseq_dvae.checkpoint import resolve_checkpoint
from mixseq_dvae.layers import gaussian_nll

__all__ = ["evaluate_nll", "filtering_rmse", "load_mot_gt_windows", "network_one_step_nll"]


def _resample_carry(carry: tuple[Tensor, ...], index: Tensor) -> tuple[Tensor, ...]:
    return tuple(tensor.index_select(0, index) for tensor in carry)


def _log_normal(x: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    return -gaussian_nll(x, mean, logvar).sum(-1)


def _chunk_nll(network: SequenceNetwork, x: Tensor, n_particles: int, generator: torch.Generator | None) -> Tensor:
    n_seq, n_steps, _ = x.shape
    reference = network.reference(x)
    xm = reference.to_model(x) if reference is not None else x
    log_jacobian = reference.log_jacobian() if reference is not None else torch.zeros(n_seq, dtype=x.dtype)
    k = n_particles if network.has_latent else 1
    proposal = network.has_latent and network.causal_encoder
    xr = xm.repeat_interleave(k, dim=0)
    feats = network.features(xr)
    carry = network.initial_carry(n_seq * k, xr)
    prev = torch.zeros_like(feats[:, 0])
    logw = torch.zeros(n_seq, k, dtype=x.dtype)
    out = torch.full((n_seq, n_steps), float("nan"), dtype=torch.float64)
    offsets = (torch.arange(n_seq) * k)[:, None]
    for t in range(n_steps):
        step = network.step(prev, None, carry, generator=generator, x=feats[:, t] if proposal else None)
        carry = step.carry
        if step.mean is not None:
            log_inc = _log_normal(xr[:, t], step.mean, step.logvar)
        else:  # power |s|² of a circular complex Gaussian is exponential with mean v
            log_inc = -(step.logvar + xr[:, t] * torch.exp(-step.logvar)).sum(-1)
        if proposal:  # importance weight of the encoder's proposal against the prior
            assert step.z is not None and step.q_mean is not None and step.q_logvar is not None
            assert step.p_mean is not None and step.p_logvar is not None
            log_inc = log_inc + _log_normal(step.z, step.p_mean, step.p_logvar)
            log_inc = log_inc - _log_normal(step.z, step.q_mean, step.q_logvar)
        log_inc = log_inc.view(n_seq, k)
        log_w = logw - torch.logsumexp(logw, dim=1, keepdim=True)
        if t > 0:
            out[:, t] = (-torch.logsumexp(log_w + log_inc, dim=1) + log_jacobian).double()
        logw = log_w + log_inc
        if k > 1:
            weights = torch.softmax(logw, dim=1)
            ess = 1.0 / weights.square().sum(1)
            if bool((ess < k / 2).any()):
                picks = torch.multinomial(weights, k, replacement=True, generator=generator)
                index = (picks + offsets).reshape(-1)
                carry = _resample_carry(carry, index)
                logw = torch.zeros_like(logw)
        prev = feats[:, t]
    return out


def network_one_step_nll(
    network: SequenceNetwork,
    x: Tensor,
    *,
    n_particles: int = 128,
    chunk: int = 64,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``-log p(x_t | x_{<t})`` of a network, per sequence and step (NaN at ``t = 0``).

    ``x``: states, shape ``(n_seq, time, x_dim)``. Returns shape ``(n_seq, time)``, summed
    over the state, in the units of ``x`` (the normalisation's Jacobian is included).
    """
    network.check_input(x)
    dtype = next(network.parameters()).dtype
    parts = []
    with torch.no_grad():
        for start in range(0, x.shape[0], chunk):
            parts.append(_chunk_nll(network, x[start : start + chunk].to(dtype), n_particles, generator))
    return torch.cat(parts, dim=0)


def load_mot_gt_windows(seq_dir: str | Path, *, n_steps: int = 60, stride: int = 40) -> Tensor:
    """Windows of ``n_steps`` frames of one annotated pedestrian, as normalised boxes.

    ``seq_dir``: a MOTChallenge sequence folder (``seqinfo.ini``, ``gt/gt.txt``). MOT17 rows
    (9 columns) keep ``flag == 1`` and ``class == 1``; MOT15 rows keep every identity. A
    window starts every ``stride`` frames; a pedestrian contributes it when annotated in
    all of its frames. Returns shape ``(n_windows, n_steps, 4)``: ``(x1, y1, x2, y2)``
    divided by the image width/height.
    """
    seq_dir = Path(seq_dir)
    info = configparser.ConfigParser()
    if not info.read(seq_dir / "seqinfo.ini"):
        raise InputError(f"{str(seq_dir)!r}: expected a MOTChallenge folder with seqinfo.ini")
    width = float(info["Sequence"]["imWidth"])
    height = float(info["Sequence"]["imHeight"])
    n_frames = int(info["Sequence"]["seqLength"])
    rows = np.loadtxt(seq_dir / "gt" / "gt.txt", delimiter=",", ndmin=2)
    if rows.shape[1] == 9:
        rows = rows[(rows[:, 6] == 1) & (rows[:, 7] == 1)]
    windows = []
    for ident in np.unique(rows[:, 1]):
        track = rows[rows[:, 1] == ident]
        by_frame = {int(r[0]): r for r in track}
        for start in range(1, n_frames - n_steps + 2, stride):
            frames = range(start, start + n_steps)
            if all(f in by_frame for f in frames):
                boxes = np.array([by_frame[f][2:6] for f in frames])
                windows.append(
                    np.stack(
                        [
                            boxes[:, 0] / width,
                            boxes[:, 1] / height,
                            (boxes[:, 0] + boxes[:, 2]) / width,
                            (boxes[:, 1] + boxes[:, 3]) / height,
                        ],
                        axis=-1,
                    )
                )
    return torch.tensor(np.array(windows), dtype=torch.float32).reshape(-1, n_steps, 4)


def evaluate_nll(
    checkpoints: list[str],
    datasets: dict[str, Tensor],
    train: Tensor,
    *,
    n_particles: int = 128,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Mean one-step NLL per step (t ≥ 1) of each checkpoint and of VKF on each dataset.

    ``datasets``: name → states ``(n_seq, time, 4)``; ``train``: training trajectories to fit
    the VKF noise. Returns ``{model: {dataset: nll}}``.
    """
    results: dict[str, dict[str, float]] = {}
    for order, label in ((1, "vkf-random-walk"), (2, "vkf-constant-velocity")):
        params = fit_linear_gaussian(train, order=order)
        results[label] = {
            name: float(linear_gaussian_one_step_nll(x, order=order, **params)[:, 1:].mean())
            for name, x in datasets.items()
        }
    for ref in checkpoints:
        checkpoint = resolve_checkpoint(ref)
        label = Path(ref).parent.name if ref.endswith("checkpoint.pt") else Path(ref).stem
        generator = torch.Generator().manual_seed(seed)
        results[label] = {
            name: float(
                network_one_step_nll(checkpoint.network, x, n_particles=n_particles, generator=generator)[:, 1:].mean()
            )
            for name, x in datasets.items()
        }
    return results


def filtering_rmse(
    model: DynamicsModel,
    boxes: Tensor,
    *,
    detection_std: float = 0.04,
    miss_prob: float = 0.2,
    iterations: int = 5,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """E-S quality on one source: RMSE of ``q(s)`` against the true boxes, in box sizes.

    Detections are ``boxes`` plus Gaussian noise of ``detection_std`` times the box width /
    height, missing with probability ``miss_prob`` (never in the first 5 frames). The message is
    ``Λ = 1/σ²``, ``h = Λ·o``; the first detection pins ``t = 0`` (variance 1e-5); EM alternates
    E-Z and E-S ``iterations`` times from the detections (gaps filled with the last one).
    ``boxes``: shape ``(n_seq, time, 4)``. Returns the RMSE of the filled detections and of
    the model's posterior mean after the last iteration.
    """
    gt = boxes.double()
    n_seq, n_steps, _ = gt.shape
    size = torch.stack([gt[..., 2] - gt[..., 0], gt[..., 3] - gt[..., 1]] * 2, dim=-1)
    std = detection_std * size
    det = gt + std * torch.randn(gt.shape, generator=generator, dtype=torch.float64)
    seen = torch.rand(n_seq, n_steps, 1, generator=generator, dtype=torch.float64) >= miss_prob
    seen[:, :5] = True
    filled = det.clone()
    for t in range(1, n_steps):
        filled[:, t] = torch.where(seen[:, t], det[:, t], filled[:, t - 1])
    lam = seen / std.square()
    message = GaussianMessage(precision=lam[:, :, None], precision_mean=(lam * det)[:, :, None])
    mask = torch.ones(n_seq, n_steps, dtype=torch.bool)
    init = Gaussian(mean=det[:, 0, None], variance=torch.full((n_seq, 1, 4), 1e-5, dtype=torch.float64))
    posterior = Gaussian(mean=filled[:, :, None], variance=std[:, :, None].square())
    model = model.double()
    with torch.no_grad():
        for _ in range(iterations):
            latent = model.e_z_step(posterior, mask, generator=generator)
            posterior = model.e_s_step(message, mask, latent=latent, initial_state=init, generator=generator).posterior

    def rmse(estimate: Tensor) -> float:
        return float(((estimate - gt) / size).square().mean().sqrt())

    return {"detections": rmse(filled), "model": rmse(posterior.mean[:, :, 0])}


def _filtering_table(checkpoints: list[str], datasets: dict[str, Tensor], *, seed: int) -> dict[str, dict[str, float]]:
    from mixseq_dvae.baselines import vkf
    from mixseq_dvae.dynamics import DVAEDynamicsModel

    table: dict[str, dict[str, float]] = {}
    models: dict[str, Any] = {"vkf-constant-velocity": lambda: vkf()}
    for ref in checkpoints:
        label = Path(ref).parent.name if ref.endswith("checkpoint.pt") else Path(ref).stem
        models[label] = lambda ref=ref: DVAEDynamicsModel(checkpoint=ref)
    for name, boxes in datasets.items():
        for label, make in models.items():
            out = filtering_rmse(make(), boxes, generator=torch.Generator().manual_seed(seed))
            table.setdefault("detections", {})[name] = out["detections"]
            table.setdefault(label, {})[name] = out["model"]
    names = list(datasets)
    print("\nE-S on noisy detections (4 % of box size, 20 % missing): RMSE in box sizes, lower is better")
    print("| model | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for label, row in table.items():
        print(f"| {label} | " + " | ".join(f"{row[n]:.4f}" for n in names) + " |")
    return table


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    from mixseq_dvae.training import load_training_data

    parser = argparse.ArgumentParser(description="one-step predictive NLL of box dynamics models")
    parser.add_argument("--data", required=True, help="synthetic training data file (train + validation)")
    parser.add_argument("--checkpoint", nargs="*", default=["srnn-mot", "deep_ar-mot"])
    parser.add_argument("--mot", action="append", default=[], help="a MOTChallenge sequence folder with gt/")
    parser.add_argument("--n-seq", type=int, default=1000, help="held-out synthetic sequences to score")
    parser.add_argument("--particles", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit-vkf", action="store_true", help="print the ML constant-velocity preset and stop")
    parser.add_argument("--filtering", action="store_true", help="also the E-S RMSE on noisy detections (real data)")
    parser.add_argument("--output", default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = load_training_data(args.data)
    if args.fit_vkf:
        params = fit_linear_gaussian(data.train, order=2)
        print({k: [float(f"{v:.3g}") for v in t.tolist()] for k, t in params.items()})
        return 0
    datasets = {"synthetic-heldout": data.validation[: args.n_seq]}
    for folder in args.mot:
        windows = load_mot_gt_windows(folder)
        if len(windows):
            datasets[Path(folder).name] = windows
    results = evaluate_nll(args.checkpoint, datasets, data.train, n_particles=args.particles, seed=args.seed)
    sizes = {name: int(x.shape[0]) for name, x in datasets.items()}
    names = list(datasets)
    lines = ["| model | " + " | ".join(f"{n} ({sizes[n]})" for n in names) + " |", "|---|" + "---|" * len(names)]
    for model, row in results.items():
        lines.append(f"| {model} | " + " | ".join(f"{row[n]:.3f}" for n in names) + " |")
    print("one-step predictive NLL per step (nats, image-normalised units, t >= 1; lower is better)")
    print("\n".join(lines))
    filtering: dict[str, dict[str, float]] = {}
    if args.filtering:
        filtering = _filtering_table(args.checkpoint, {k: v for k, v in datasets.items() if k != "synthetic-heldout"},
                                     seed=args.seed)  # fmt: skip
    if args.output:
        Path(args.output).write_text(
            json.dumps({"sizes": sizes, "nll": results, "filtering_rmse": filtering}, indent=2)
        )
    return 0 if all(math.isfinite(v) for row in results.values() for v in row.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
