"""Speech + flute mixtures at a chosen speech-to-flute ratio, for evaluation.

A mixture set is a folder::

    <set>/
      manifest.json           settings and, per mixture, where its excerpts come from
      mixtures.npz            arrays mixture, speech, flute: shape (count, samples), float32
      0000/mixture.wav, 0000/speech.wav, 0000/flute.wav, 0001/... (float wav, 16 kHz)

The sources are the held-out splits of two corpora (:mod:`mixseq_audio.corpus`). Each corpus
split's segments are joined per origin (LibriVox and Fish Fillets apart) and cut into
consecutive excerpts of ``n_frames`` STFT frames; speech excerpts are paired with flute
excerpts in a seeded random order (flute excerpts are reused, shifted, when there are fewer).
The flute is scaled to the speech-to-flute ratio ``snr_db``, then the mixture is
peak-normalised and the same gain applied to both sources, so ``speech + flute = mixture``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mixseq.errors import InputError
from mixseq.fileio import atomic_path, write_text_atomic
from mixseq_audio import __version__
from mixseq_audio.audioio import write_audio
from mixseq_audio.data import active_fraction, load_segments, mix_at_snr, peak_normalize
from mixseq_audio.transforms import STFTConfig

__all__ = ["build_mixture_set", "excerpts", "load_mixture_set", "mixture_sequences"]


def excerpts(
    corpus_dir: str | os.PathLike[str], split: str, n_samples: int, *, min_active: float = 0.5
) -> list[tuple[Tensor, dict[str, object]]]:
    """Consecutive excerpts of ``n_samples`` from a corpus split, with their origin.

    Segments are joined per origin group (LibriVox apart from the rest) before cutting; a
    group's remainder shorter than ``n_samples`` is dropped, and so is an excerpt with less
    than ``min_active`` of its 20 ms frames within 30 dB of its loudest (mostly rests).
    Returns ``(waveform, info)`` pairs, waveforms shape ``(n_samples,)``.
    """
    root = Path(corpus_dir)
    description = json.loads((root / "description.json").read_text())
    table = description["splits"][split]["segments"]
    rate = description["config"]["stft"]["sample_rate"]
    segments = load_segments(root, split, sample_rate=rate)
    groups: dict[str, list[tuple[Tensor, str]]] = {}
    for row, segment in zip(table, segments, strict=True):
        group = "librivox" if "librivox" in row["source"] else description["name"]
        groups.setdefault(group, []).append((segment, row["source"]))
    out: list[tuple[Tensor, dict[str, object]]] = []
    for group, items in groups.items():
        stream = torch.cat([segment for segment, _ in items])
        ends = np.cumsum([segment.shape[0] for segment, _ in items])
        for start in range(0, stream.shape[0] - n_samples + 1, n_samples):
            first = int(np.searchsorted(ends, start, side="right"))
            last = int(np.searchsorted(ends, start + n_samples - 1, side="right"))
            sources = sorted({items[i][1] for i in range(first, last + 1)})
            info = {"corpus": description["name"], "group": group, "split": split, "offset": start, "sources": sources}
            excerpt = stream[start : start + n_samples]
            if active_fraction(excerpt, sample_rate=rate) >= min_active:
                out.append((excerpt, info))
    return out


def build_mixture_set(
    out_dir: str | os.PathLike[str],
    *,
    speech_dir: str | os.PathLike[str],
    flute_dir: str | os.PathLike[str],
    split: str = "test",
    snr_db: float = -5.0,
    n_frames: int = 300,
    count: int = 40,
    seed: int = 0,
    config: STFTConfig | None = None,
) -> dict[str, object]:
    """Write a mixture set (see the module documentation); return its manifest.

    ``n_frames`` STFT frames per mixture (``(n_frames − 1) · hop`` samples); at most
    ``count`` mixtures, as many as there are speech excerpts.
    """
    config = config if config is not None else STFTConfig()
    n_samples = config.n_samples(n_frames)
    if n_samples <= 0:
        raise InputError(f"n_frames: expected at least 2, got {n_frames}")
    speech = excerpts(speech_dir, split, n_samples)
    flute = excerpts(flute_dir, split, n_samples)
    if not speech or not flute:
        raise InputError(
            f"mixtures: the {split} splits hold {len(speech)} speech and {len(flute)} flute excerpts of "
            f"{n_samples} samples; expected at least one of each"
        )
    generator = torch.Generator().manual_seed(seed)
    speech_order = torch.randperm(len(speech), generator=generator).tolist()[:count]
    flute_order = torch.randperm(len(flute), generator=generator).tolist()
    n = len(speech_order)
    speech_wave = torch.stack([speech[i][0] for i in speech_order]).double()
    flute_wave = torch.stack([flute[flute_order[j % len(flute)]][0] for j in range(n)]).double()
    mixture, flute_wave = mix_at_snr(speech_wave, flute_wave, snr_db)
    mixture, gain = peak_normalize(mixture)
    speech_wave = speech_wave * gain.unsqueeze(-1)
    flute_wave = flute_wave * gain.unsqueeze(-1)
    root = Path(out_dir)
    items = []
    for j in range(n):
        folder = root / f"{j:04d}"
        for name, wave in (("mixture", mixture), ("speech", speech_wave), ("flute", flute_wave)):
            write_audio(folder / f"{name}.wav", wave[j].float(), config.sample_rate)
        items.append({
            "id": f"{j:04d}",
            "speech": speech[speech_order[j]][1],
            "flute": flute[flute_order[j % len(flute)]][1],
            "gain": float(gain[j]),
        })
    with atomic_path(root / "mixtures.npz") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, mixture=mixture.float().numpy(), speech=speech_wave.float().numpy(),
                 flute=flute_wave.float().numpy())
    manifest: dict[str, object] = {
        "format": "mixseq-audio mixtures 1",
        "split": split,
        "count": n,
        "snr_db": snr_db,
        "n_frames": n_frames,
        "samples": n_samples,
        "seconds": round(n * n_samples / config.sample_rate, 2),
        "sample_rate": config.sample_rate,
        "stft": config.to_dict(),
        "seed": seed,
        "speech_corpus": str(speech_dir),
        "flute_corpus": str(flute_dir),
        "created_by": f"mixseq-audio {__version__}",
        "mixtures": items,
    }
    write_text_atomic(root / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return manifest


def load_mixture_set(set_dir: str | os.PathLike[str]) -> tuple[Tensor, Tensor, dict[str, object]]:
    """A mixture set as tensors.

    Returns the mixtures, shape ``(count, samples)``, the sources, shape
    ``(count, 2, samples)`` (speech, flute), and the manifest.
    """
    root = Path(set_dir)
    manifest = json.loads((root / "manifest.json").read_text())
    with np.load(root / "mixtures.npz") as arrays:
        mixture = torch.from_numpy(arrays["mixture"])
        sources = torch.stack([torch.from_numpy(arrays["speech"]), torch.from_numpy(arrays["flute"])], dim=1)
    return mixture, sources, manifest


def mixture_sequences(
    set_dir: str | os.PathLike[str], n_frames: int, *, hop: int = 256, min_share: float = 1e-4
) -> tuple[Tensor, Tensor]:
    """A mixture set cut into consecutive sequences of ``n_frames`` STFT frames (the paper's protocol).

    Each sequence — mixture and references with one gain — is peak-normalised. Sequences in
    which a reference holds less than ``min_share`` of the mixture's energy (−40 dB: nothing to
    separate, and SI-SDR undefined) are dropped. Returns mixtures ``(n, samples)`` and
    references ``(n, 2, samples)`` (speech, flute), float32, ``samples = (n_frames − 1)·hop``.
    """
    mixture, sources, _ = load_mixture_set(set_dir)
    n_samples = (n_frames - 1) * hop
    if n_samples <= 0 or n_samples > mixture.shape[-1]:
        raise InputError(f"n_frames: expected 2 to {1 + mixture.shape[-1] // hop}, got {n_frames}")
    k = mixture.shape[-1] // n_samples
    mix = mixture[:, : k * n_samples].reshape(-1, n_samples).double()
    src = sources[..., : k * n_samples].reshape(sources.shape[0], 2, k, n_samples).transpose(1, 2)
    src = src.reshape(-1, 2, n_samples).double()
    peak = mix.abs().amax(dim=-1, keepdim=True)
    energy = mix.square().sum(-1, keepdim=True)
    keep = (src.square().sum(-1) > min_share * energy).all(-1) & (peak[:, 0] > 0)
    gain = 1.0 / peak[keep]
    return (mix[keep] * gain).float(), (src[keep] * gain.unsqueeze(-1)).float()
