"""Small configurations and data for tests (this package's and the conformance suites)."""

from __future__ import annotations

import torch

from mixseq_dvae.config import DeepARConfig, DKFConfig, DVAEConfig, SRNNConfig, VRNNConfig

__all__ = ["SMALL_CONFIGS", "boxes"]

#: Small configs of every network, real (boxes) and complex (audio-like) decoders.
SMALL_CONFIGS: dict[str, DVAEConfig] = {
    "srnn": SRNNConfig.boxes(),
    "srnn-first_box": SRNNConfig.boxes(normalization="first_box"),
    "srnn-backward": SRNNConfig.boxes(encoder="backward", encoder_input_hidden=(6,)),
    "srnn-complex": SRNNConfig.audio(
        x_dim=5,
        z_dim=3,
        rnn_dim=6,
        x_hidden=(7,),
        encoder_input_hidden=(7,),
        encoder_rnn_dim=6,
        encoder_hidden=(5, 4),
        prior_hidden=(5, 4),
        decoder_hidden=(8,),
        input_transform="log",
    ),
    "vrnn": VRNNConfig(),
    "dkf": DKFConfig(),
    "srnn-relative": SRNNConfig.boxes(relative=True, normalization="first_box"),
    "vrnn-relative": VRNNConfig(relative=True),
    "deep_ar": DeepARConfig(),
    "deep_ar-relative": DeepARConfig(relative=True),
    "deep_ar-fixed": DeepARConfig(variance="fixed", fixed_variance=1e-3),
    "deep_ar-complex": DeepARConfig.audio(x_dim=5, rnn_dim=6, x_hidden=(7,), output_hidden=(8,)),
}


def boxes(n: int, n_steps: int, *, seed: int = 0) -> torch.Tensor:
    """Smooth random boxes ``(x1, y1, x2, y2)`` inside the unit square. Shape ``(n, time, 4)``."""
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(n, 1, 2, generator=g) * 0.6 + 0.1
    velocity = (torch.rand(n, 1, 2, generator=g) - 0.5) * 0.004
    t = torch.arange(n_steps, dtype=torch.float32)[None, :, None]
    corner = start + velocity * t
    size = torch.tensor([0.03, 0.15]) * (1 + torch.rand(n, 1, 2, generator=g))
    return torch.cat([corner, corner + size], dim=-1)
