"""Draw the documentation's figures with the project's own plotting functions.

    python docs/examples/make_figures.py [--output-dir docs/_static/figures] [--data DIR] [--small]

Writes, into ``--output-dir``:

* ``core-tracks.png``, ``core-elbo.png`` — the core demo's setting (three crossing sources,
  Gaussian observations, constant-velocity Kalman smoother, block warm start), drawn by
  :func:`mixseq.plotting.plot_source_tracks` and :func:`mixseq.plotting.plot_elbo`;
* ``tracks-tud-stadtmitte.png``, ``elbo-tud-stadtmitte.png`` — a real sequence: the first
  three-pedestrian window (MOT-3T protocol, 60 frames) of the MOTChallenge sequence
  TUD-Stadtmitte, tracked from its real detections, drawn by :func:`mixseq_mot.plot_tracks`
  with the ground truth, and the ELBO of that fit. Needs the MOT15 sequences (``--data``,
  default ``$MIXSEQ_MOT15`` or ``../shared/data/mot15`` beside the repository); without them
  these two figures are skipped with a message.

``--small`` uses small sizes (for the tests); the committed figures are drawn without it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from mixseq import Engine, block_warm_start, create_component
from mixseq.plotting import plot_elbo, plot_source_tracks
from mixseq.simulate import crossing_sources

ROOT = Path(__file__).resolve().parents[2]


def default_data() -> Path:
    """Where the MOT15 sequences are looked for by default."""
    return Path(os.environ.get("MIXSEQ_MOT15", ROOT.parent / "shared" / "data" / "mot15"))


def core_figures(output_dir: Path, *, small: bool) -> list[Path]:
    """The core demo's two plots: tracks of one sequence and the ELBO over iterations."""
    n_batch, n_steps = (2, 30) if small else (16, 80)
    data = crossing_sources(n_batch=n_batch, n_steps=n_steps, n_sources=3, noise_std=0.03, detect_prob=0.85,
                            generator=torch.Generator().manual_seed(0))
    engine = Engine(
        observation_model=create_component("observation_models", "gaussian", obs_dim=2, noise_variance=0.03**2),
        dynamics=create_component("dynamics_models", "linear_gaussian", order=2, process_variance=1e-6),
        max_iterations=30, tolerance=1e-6, patience=2,
    )
    init = block_warm_start(engine, data.obs, data.obs_mask, n_sources=3, block_size=10, iterations=10, generator=1)
    result = engine.run(data.obs, data.obs_mask, n_sources=3, init=init, generator=1)
    tracks, elbo = output_dir / "core-tracks.png", output_dir / "core-elbo.png"
    plot_source_tracks(data.obs[0], data.obs_mask[0], result.posterior.mean[0], tracks, labels=data.labels[0],
                       title="core demo: observations and posterior means")
    plot_elbo(result.elbo, elbo, title="core demo: ELBO")
    return [tracks, elbo]


def real_sequence_figures(output_dir: Path, data_dir: Path, *, small: bool) -> list[Path]:
    """Three pedestrians of TUD-Stadtmitte tracked from real detections, and the ELBO of the fit."""
    from mixseq_mot import BoxObservationModel, Mot3TConfig, build_mot3t, plot_tracks, track

    sequence = data_dir / "TUD-Stadtmitte"
    if not (sequence / "det" / "det.txt").is_file():
        print(f"skipped the real-sequence figures: {sequence} not found (pass --data)")
        return []
    length = 30 if small else 60
    windows = build_mot3t(sequence, config=Mot3TConfig(lengths=(length,)), generator=torch.Generator().manual_seed(0))
    windows = windows[length]
    obs, obs_mask = windows.tensors(torch.float64)
    engine = Engine(
        observation_model=BoxObservationModel(std_ratio=0.04),
        dynamics=create_component("dynamics_models", "linear_gaussian", order=2, process_variance=1e-6),
        max_iterations=10 if small else 30,
    )
    result = track(engine, obs[:1], obs_mask[:1], n_sources=3, init="first-frame", generator=0)
    first = int(windows.start_frame[0])
    tracks, elbo = output_dir / "tracks-tud-stadtmitte.png", output_dir / "elbo-tud-stadtmitte.png"
    plot_tracks(tracks, result.boxes[0], detections=obs[0], detection_mask=obs_mask[0],
                ground_truth=windows.gt_boxes[0], ground_truth_mask=windows.gt_mask[0], first_frame=first,
                title=f"TUD-Stadtmitte, frames {first}-{first + length - 1}: 3 pedestrians, real detections")
    plot_elbo(result.fit.elbo, elbo, title="TUD-Stadtmitte: ELBO per EM iteration")
    return [tracks, elbo]


def main(argv: list[str] | None = None) -> int:
    """Draw every figure; print the paths written."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=ROOT / "docs" / "_static" / "figures")
    parser.add_argument("--data", type=Path, default=None, help="folder with the MOT15 sequence folders")
    parser.add_argument("--small", action="store_true", help="small sizes (tests)")
    args = parser.parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    written = core_figures(args.output_dir, small=args.small)
    written += real_sequence_figures(args.output_dir, args.data or default_data(), small=args.small)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
