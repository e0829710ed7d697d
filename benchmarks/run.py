"""One entry point for speed and scale: tracking and separation, CPU and CUDA.

    python benchmarks/run.py [--suite tracking audio] [--device cpu|cuda] [--quick]
                             [--steps 60 120 300] [--batches 1 64 1024] [--iterations 70]

Every configuration runs in its own subprocess so that the peak memory it reports is its
own (``ru_maxrss`` on CPU, ``torch.cuda.max_memory_allocated`` on CUDA). Prints seconds per
sequence, peak memory and the quality reached (ELBO, MOTA, SI-SDR), and appends one JSON
line per configuration to ``benchmarks/results.jsonl`` (committed, so that progress is
tracked over time).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.jsonl"


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _run_config(config: dict[str, object]) -> dict[str, object]:
    done = subprocess.run([sys.executable, str(HERE / "_bench_worker.py"), json.dumps(config)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return {**config, "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", nargs="+", choices=["tracking", "audio"], default=["tracking", "audio"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, nargs="+", default=[60, 120, 300], help="tracking frames")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--audio-frames", type=int, nargs="+", default=[50, 300])
    parser.add_argument("--audio-batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--iterations", type=int, default=70)
    parser.add_argument("--dynamics", default="srnn", help="tracking dynamics (srnn, deep_ar, vkf, ...)")
    parser.add_argument("--preset", default="paper", help="tracking preset of mixseq_mot (paper or default)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="T=60 and batch 1, 64 only")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/results.jsonl")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.batches, args.audio_frames, args.audio_batches = [60], [1, 64], [50], [1, 16]

    configs: list[dict[str, object]] = []
    if "tracking" in args.suite:
        configs += [{"suite": "tracking", "n_steps": t, "n_batch": b, "n_sources": 3, "iterations": args.iterations,
                     "dynamics": args.dynamics, "preset": args.preset, "device": args.device,
                     "threads": args.threads} for t in args.steps for b in args.batches]
    if "audio" in args.suite:
        configs += [{"suite": "audio", "n_steps": t, "n_batch": b, "n_sources": 2, "iterations": args.iterations,
                     "device": args.device, "threads": args.threads}
                    for t in args.audio_frames for b in args.audio_batches]

    stamp = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "commit": _git_commit(),
             "machine": f"{platform.machine()} {platform.processor() or ''}".strip()}
    header = f"{'suite':<9} {'T':>4} {'batch':>6} {'s/seq':>10} {'peak MB':>8} {'quality':<28}"
    print(header)
    for config in configs:
        row = {**stamp, **_run_config(config)}
        if "error" in row:
            print(f"{row['suite']:<9} {row['n_steps']:>4} {row['n_batch']:>6} error: {row['error']}")
            continue
        quality = " ".join(f"{k}={v:.3f}" for k, v in row["quality"].items())  # type: ignore[union-attr]
        print(f"{row['suite']:<9} {row['n_steps']:>4} {row['n_batch']:>6} {row['seconds_per_sequence']:>10.5f} "
              f"{row['peak_memory_mb']:>8.0f} {quality:<28}")
        if not args.no_record:
            with RESULTS.open("a") as handle:
                handle.write(json.dumps(row, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
