"""Seconds per sequence of the core engine with the built-in linear-Gaussian setup.

    python benchmarks/engine.py [--iterations 70] [--device cpu] [--batches 1 64 1024] [--steps 60 300]

Three crossing sources in 2-D, 90 % detection, constant-velocity Kalman smoother, a fixed
number of EM iterations. Prints one row per (T, batch) with the assignment accuracy reached.
"""

from __future__ import annotations

import argparse
import time

import torch

from mixseq import Engine
from mixseq.builtins import GaussianObservationModel, LinearGaussianDynamicsModel
from mixseq.metrics import assignment_accuracy
from mixseq.simulate import crossing_sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=70)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--steps", type=int, nargs="+", default=[60, 300])
    parser.add_argument("--sources", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"engine benchmark: linear-Gaussian, N={args.sources}, {args.iterations} iterations, "
          f"device={args.device}, threads={torch.get_num_threads()}")
    print(f"{'T':>5} {'batch':>6} {'s/seq':>10} {'total s':>9} {'accuracy':>9}")
    for n_steps in args.steps:
        for n_batch in args.batches:
            data = crossing_sources(n_batch=n_batch, n_steps=n_steps, n_sources=args.sources, noise_std=0.03,
                                    detect_prob=0.9, generator=torch.Generator().manual_seed(0))
            engine = Engine(observation_model=GaussianObservationModel(obs_dim=2, noise_variance=0.03**2),
                            dynamics=LinearGaussianDynamicsModel(order=2, process_variance=1e-6),
                            max_iterations=args.iterations)
            engine.run(data.obs[:1, :10], data.obs_mask[:1, :10], n_sources=args.sources, device=args.device)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            result = engine.run(data.obs, data.obs_mask, n_sources=args.sources, device=args.device, generator=0)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            accuracy = assignment_accuracy(result.assignments.cpu(), data.labels).mean()
            print(f"{n_steps:>5} {n_batch:>6} {elapsed / n_batch:>10.5f} {elapsed:>9.3f} {accuracy:>9.3f}")


if __name__ == "__main__":
    main()
