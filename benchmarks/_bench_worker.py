"""One benchmark configuration, run in its own process by ``benchmarks/run.py``.

Prints one JSON line: the configuration, seconds per sequence, peak memory, quality.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

import torch


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def tracking_data(n_batch: int, n_steps: int, n_sources: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Synthetic multi-target sequences: the paper's trajectories, jittered, 10 % missed, shuffled."""
    from mixseq_mot.synthetic import synthetic_box_trajectories

    generator = torch.Generator().manual_seed(seed)
    truth = synthetic_box_trajectories(n_batch * n_sources, n_steps=n_steps, generator=seed).double()
    truth = truth.view(n_batch, n_sources, n_steps, 4).transpose(1, 2).contiguous()  # (batch, time, source, 4)
    size = torch.cat([truth[..., 2:] - truth[..., :2]] * 2, dim=-1)
    noisy = truth + 0.02 * size * torch.randn(truth.shape, generator=generator, dtype=torch.float64)
    order = torch.argsort(torch.rand(n_batch, n_steps, n_sources, generator=generator), dim=-1)
    obs = torch.gather(noisy, 2, order.unsqueeze(-1).expand_as(noisy))
    mask = torch.rand(n_batch, n_steps, n_sources, generator=generator) > 0.1
    mask[:, 0] = True
    return {"obs": obs.float(), "obs_mask": mask, "truth": truth}


def run_tracking(config: dict[str, Any]) -> dict[str, Any]:
    from mixseq_mot.evaluate import evaluate_arrays
    from mixseq_mot.presets import make_tracking_engine
    from mixseq_mot.tracking import track

    n_batch, n_steps, n_sources = config["n_batch"], config["n_steps"], config["n_sources"]
    device = config["device"]
    data = tracking_data(n_batch, n_steps, n_sources)
    engine, options = make_tracking_engine(preset=config["preset"], dynamics=config["dynamics"],
                                           max_iterations=config["iterations"])
    warm = tracking_data(1, 10, n_sources, seed=1)
    track(engine, warm["obs"], warm["obs_mask"], n_sources=n_sources, device=device, generator=0, **options)
    _synchronize(device)
    start = time.perf_counter()
    result = track(engine, data["obs"], data["obs_mask"], n_sources=n_sources, device=device, generator=0,
                   **options)
    _synchronize(device)
    elapsed = time.perf_counter() - start
    n_eval = min(n_batch, 64)  # motmetrics is slow; its score on 64 sequences is representative
    evaluation = evaluate_arrays(data["truth"][:n_eval].numpy(), result.boxes[:n_eval].double().cpu().numpy())
    overall = evaluation.to_json_dict()
    quality = {"mota": overall["mota"], "idf1": overall["idf1"],
               "elbo_per_frame": float(result.fit.elbo[-1].mean()) / n_steps,
               "iterations": float(result.fit.n_iterations)}
    return {"seconds_per_sequence": elapsed / n_batch, "seconds": elapsed, "quality": quality}


def run_audio(config: dict[str, Any]) -> dict[str, Any]:
    from mixseq_audio.benchmark import separation_speed

    return separation_speed(n_batch=config["n_batch"], n_frames=config["n_steps"],
                            iterations=config["iterations"], device=config["device"])


def main() -> None:
    config = json.loads(sys.argv[1])
    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    runner = run_tracking if config["suite"] == "tracking" else run_audio
    outcome = runner(config)
    outcome["peak_memory_mb"] = _peak_memory_mb(config["device"])
    outcome["torch_threads"] = torch.get_num_threads()
    print(json.dumps({**config, **outcome}))


if __name__ == "__main__":
    main()
