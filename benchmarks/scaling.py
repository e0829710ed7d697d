"""How the cost of one EM iteration grows with T, batch size, N and observations per frame.

    python benchmarks/scaling.py [--dynamics linear_gaussian] [--iterations 10] [--threads 1]

Each sweep varies one size around a base point (T = 60, batch = 64, N = 3, K = 3) on the
engine with the built-in Gaussian observation model (4-D states). Prints milliseconds per
EM iteration and the log-log slope of each sweep; writes ``benchmarks/output/scaling.md``
and a PNG of the four curves.

What to expect: the time loop of the dynamics is sequential, so cost is linear in T at
fixed per-step cost. Batch, N and K are tensor dimensions: at small sizes the per-step cost
is fixed overhead (Python and kernel launches), so the curves are flat, and they become
linear once the arithmetic dominates. E-W and the messages scale with K·N per frame; the
dynamics with N only.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from mixseq import Engine, create_component
from mixseq.simulate import crossing_sources

OUTPUT = Path(__file__).resolve().parent / "output"
BASE = {"n_steps": 60, "n_batch": 64, "n_sources": 3, "n_obs": 3}
SWEEPS = {
    "n_steps": [15, 30, 60, 120, 240, 480],
    "n_batch": [1, 4, 16, 64, 256, 1024],
    "n_sources": [1, 2, 3, 6, 12, 24],
    "n_obs": [3, 6, 12, 24, 48],
}


def time_per_iteration(n_steps: int, n_batch: int, n_sources: int, n_obs: int, dynamics: str,
                       iterations: int) -> float:
    """Milliseconds per EM iteration; K - N extra observations per frame are clutter."""
    generator = torch.Generator().manual_seed(0)
    data = crossing_sources(n_batch=n_batch, n_steps=n_steps, n_sources=n_sources, state_dim=4,
                            noise_std=0.03, generator=generator)
    obs, mask = data.obs, data.obs_mask
    if n_obs > n_sources:
        clutter = torch.randn(n_batch, n_steps, n_obs - n_sources, 4, generator=generator)
        obs = torch.cat([obs, clutter], dim=2)
        mask = torch.cat([mask, torch.ones(clutter.shape[:3], dtype=torch.bool)], dim=2)
    engine = Engine(observation_model=create_component("observation_models", "gaussian", obs_dim=4,
                                                       noise_variance=0.03**2),
                    dynamics=create_component("dynamics_models", dynamics), max_iterations=iterations)
    engine.run(obs[:1, :5], mask[:1, :5], n_sources=n_sources)  # warm-up
    start = time.perf_counter()
    engine.run(obs, mask, n_sources=n_sources)
    return 1000 * (time.perf_counter() - start) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dynamics", default="linear_gaussian")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    OUTPUT.mkdir(exist_ok=True)
    lines = [f"# Cost per EM iteration ({args.dynamics}, {args.threads} thread(s))", "",
             "| varied | value | ms / iteration | ms / iteration / sequence |", "|---|---:|---:|---:|"]
    curves: dict[str, list[tuple[int, float]]] = {}
    for name, values in SWEEPS.items():
        points = []
        for value in values:
            sizes = {**BASE, name: value}
            if name == "n_sources":
                sizes["n_obs"] = value
            ms = time_per_iteration(**sizes, dynamics=args.dynamics, iterations=args.iterations)
            points.append((value, ms))
            lines.append(f"| {name} | {value} | {ms:.2f} | {ms / sizes['n_batch']:.4f} |")
            print(f"{name:>9} = {value:>5}: {ms:8.2f} ms/iteration")
        first, last = points[0], points[-1]
        slope = math.log(last[1] / first[1]) / math.log(last[0] / first[0])
        print(f"{name:>9}: log-log slope {slope:.2f} from {first[0]} to {last[0]}")
        lines.append(f"| {name} | slope | {slope:.2f} | |")
        curves[name] = points
    (OUTPUT / "scaling.md").write_text("\n".join(lines) + "\n")
    _plot(curves, OUTPUT / "scaling.png")


def _plot(curves: dict[str, list[tuple[int, float]]], path: Path) -> None:
    from mixseq.plotting import _pyplot, save_figure

    plt = _pyplot()
    figure, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 3))
    for axis, (name, points) in zip(axes, curves.items(), strict=True):
        axis.loglog([p[0] for p in points], [p[1] for p in points], marker="o")
        axis.set_xlabel(name)
        axis.set_ylabel("ms / EM iteration")
        axis.grid(alpha=0.3, which="both")
    save_figure(figure, path)


if __name__ == "__main__":
    main()
