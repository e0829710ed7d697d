"""Speed of the DVAE dynamics: training throughput and one E-S pass per sequence.

    python benchmarks/dynamics.py [--model srnn] [--batches 1 64 1024] [--steps 60] [--sources 3]
                                  [--checkpoint srnn-mot] [--threads 1] [--device cpu]

Training: sequences per second of one optimisation step (loss, backward, Adam) at batch 256
with scheduled sampling on (two passes). E-S: seconds per sequence of one E-Z + E-S pass
over ``sources`` sources of ``steps`` frames, at each batch size, without gradients.
"""

from __future__ import annotations

import argparse
import time

import torch

from mixseq.interfaces import Gaussian, GaussianMessage
from mixseq_dvae.checkpoint import resolve_checkpoint
from mixseq_dvae.dynamics import DVAEDynamicsModel


def _boxes(n: int, n_steps: int, generator: torch.Generator) -> torch.Tensor:
    start = torch.rand(n, 1, 2, generator=generator) * 0.6 + 0.1
    velocity = (torch.rand(n, 1, 2, generator=generator) - 0.5) * 0.004
    corner = start + velocity * torch.arange(n_steps, dtype=torch.float32)[None, :, None]
    return torch.cat([corner, corner + torch.tensor([0.03, 0.15])], dim=-1)


def _timeit(fn, repeats: int) -> float:
    fn()  # warm-up
    tic = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - tic) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="srnn-mot")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--sources", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    checkpoint = resolve_checkpoint(args.checkpoint)
    network = checkpoint.network.to(device)
    print(
        f"dynamics benchmark: {checkpoint.model} ({sum(p.numel() for p in network.parameters())} parameters), "
        f"T={args.steps}, device={device}, threads={torch.get_num_threads()}"
    )

    x = _boxes(256, args.steps, gen).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-5)

    def train_step() -> None:
        optimizer.zero_grad()
        network.loss(x, kl_weight=1.0, sampling_prob=0.5, generator=None).loss.backward()
        optimizer.step()

    seconds = _timeit(train_step, args.repeats)
    print(f"training: {256 / seconds:,.0f} sequences/s (batch 256, {seconds * 1e3:.0f} ms per step)")

    model = DVAEDynamicsModel(network=resolve_checkpoint(args.checkpoint).network).to(device)
    print(f"{'batch':>6} {'sources':>8} {'s/seq E-Z+E-S':>15} {'total s':>9}")
    for n_batch in args.batches:
        obs = _boxes(n_batch * args.sources, args.steps, gen).to(device)
        obs = obs.reshape(n_batch, args.sources, args.steps, 4).transpose(1, 2)
        precision = torch.full_like(obs, 1.0 / (0.04 * 0.05) ** 2)
        message = GaussianMessage(precision=precision, precision_mean=precision * obs)
        posterior = Gaussian(mean=obs, variance=torch.full_like(obs, 1e-6))
        mask = torch.ones(n_batch, args.steps, dtype=torch.bool, device=device)

        def e_step(message=message, posterior=posterior, mask=mask) -> None:
            with torch.no_grad():
                latent = model.e_z_step(posterior, mask, generator=None)
                model.e_s_step(message, mask, latent=latent, initial_state=None, generator=None)

        seconds = _timeit(e_step, args.repeats)
        print(f"{n_batch:>6} {args.sources:>8} {seconds / n_batch:>15.2e} {seconds:>9.3f}")


if __name__ == "__main__":
    main()
