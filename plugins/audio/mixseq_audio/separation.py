"""Weakly supervised single-channel separation: MixDVAE in the STFT domain.

The pipeline (``REFERENCE.md`` §4)::

    waveform ─ peak-normalise once ─ overlapping chunks ─ STFT ─┐
        ┌───────────────────────────────────────────────────────┘
        └─ DVAE-init ─ variational EM (E-W, E-S, E-Z) ─ inverse STFT of the posterior means
           ─ cross-faded overlap-add ─ undo the gain ─ one waveform per source

* **Model.** :class:`~mixseq_audio.observation.STFTObservationModel` (one assignment per
  time-frequency bin, ``v_x = 0.03 |x|²``) and one
  :class:`~mixseq_dvae.dynamics.SRNNDynamicsModel` per source, each pretrained on a
  single-source corpus (``srnn-speech``, ``srnn-flute``): the weak supervision.
* **DVAE-init** (:func:`dvae_initialization`). Each source's DVAE is run on the mixture power
  ``|x|²`` (encoder sample ``z``, teacher-forced decoder), giving a variance ``σ²_n`` per bin;
  the initial posterior is the Wiener estimate of ``x = Σ s_n + noise``,
  ``m_n = σ²_n / (Σ σ² + v_x) · x``, and ``η = 1/N``. Alone (``iterations=0``) it is the
  *DVAE-init* baseline.
* **EM.** The core :class:`~mixseq.Engine`. E-S runs each DVAE forward, driven by a sample of
  the current estimate's power ``|s̃_{t−1}|²``, ``s̃ ~ N_c(m, V)`` (``power_sample``); E-Z
  encodes ``E|s|² = |m|² + V``. EM stops when the relative ELBO change stays below
  ``tolerance`` for ``patience`` iterations, or after ``iterations``. The defaults were
  chosen on the *valid* mixtures (:data:`DEFAULT_ITERATIONS`); ``iterations=70,
  tolerance=None`` is the paper's form.
* **Chunks.** A long signal is normalised once (peak 1, like the training segments), cut into
  overlapping chunks of ``chunk_frames`` STFT frames (:func:`~mixseq_audio.audioio.split_chunks`),
  separated in batches of ``max_batch`` chunks and stitched with ``sin²``/``cos²``
  cross-fades; padding frames are masked out of EM. Memory is bounded by ``max_batch``,
  whatever the length.

Never NaN: digital silence has a positive noise floor in the observation model, a silent
input separates into silent sources, padding is masked, and the result is checked before it
is returned.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import attrs
import torch
from torch import Tensor

from mixseq import Engine, Gaussian, Initialization
from mixseq.errors import InputError, MixseqError, ShapeError
from mixseq.interfaces import DynamicsModel
from mixseq.progress import ProgressBar
from mixseq_audio.assignment import BinAssignmentPrior
from mixseq_audio.audioio import ChunkPlan, read_audio, split_chunks
from mixseq_audio.observation import STFTObservationModel, observations_to_stft, stft_to_observations
from mixseq_audio.transforms import STFT, STFTConfig

__all__ = [
    "DEFAULT_ITERATIONS",
    "DEFAULT_PATIENCE",
    "DEFAULT_TOLERANCE",
    "KNOWN_SOURCES",
    "Separation",
    "SeparationConfig",
    "Separator",
    "SpectralSeparation",
    "dvae_initialization",
    "parse_sources",
    "separate",
]

logger = logging.getLogger(__name__)

#: Source name -> pretrained checkpoint of :mod:`mixseq_dvae` (``mixseq_dvae/pretrained``).
KNOWN_SOURCES: dict[str, str] = {"speech": "srnn-speech", "flute": "srnn-flute"}

#: Default EM budget and stopping rule, chosen on the valid mixtures (see the plugin README):
#: SI-SDR peaks within the first iterations and then degrades (REFERENCE §8).
DEFAULT_ITERATIONS = 10
DEFAULT_TOLERANCE: float | None = 1e-3
DEFAULT_PATIENCE = 2


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{attribute.name}: expected an integer >= 1, got {value!r}")


def _non_negative(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{attribute.name}: expected an integer >= 0, got {value!r}")


def _tolerance(_instance: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and not value > 0:
        raise InputError(f"{attribute.name}: expected a positive number or None, got {value!r}")


@attrs.frozen(kw_only=True)
class SeparationConfig:
    """Settings of :class:`Separator`.

    Parameters
    ----------
    init
        The DVAE-init. ``"mixture"`` (the paper): every source starts as the whole mixture,
        ``η = 1/N``; E-Z runs each source's DVAE on the mixture power and one E-S step gives
        the initial, Wiener-like estimate ``m_n = η σ²_n / (η σ²_n + v_x) · x``.
        ``"wiener"``: each DVAE's teacher-forced variance ``σ²_n`` on the mixture power gives
        the Wiener posterior of ``x = Σ s_n + e`` (:func:`dvae_initialization`).
    iterations
        Most variational-EM iterations after the DVAE-init (0: the DVAE-init estimate alone;
        70: the paper).
    tolerance, patience
        Stop once the relative ELBO change stays below ``tolerance`` for ``patience``
        iterations in a row (``tolerance=None``: always run ``iterations``).
    assignments
        Assignments of the first E-S: ``"uniform"`` (``η = 1/N``, the paper) or
        ``"posterior"`` (an E-W step from the DVAE-init posterior).
    power_sample
        How the DVAE's next input power is formed in E-S: ``"gaussian"`` (paper),
        ``"uniform"`` (the released code's noise), ``"mean"`` (``|m|² + V``, no sampling).
    chunk_frames, overlap_frames
        Long signals are separated in chunks of ``chunk_frames`` STFT frames overlapping by
        ``overlap_frames`` (the DVAEs were trained on 50-frame chunks).
    max_batch
        Chunks separated together in one EM run (bounds memory; larger is faster on CPU).
    seed
        Seed of the random draws (DVAE samples); the result is deterministic given it.
    """

    init: Literal["mixture", "wiener"] = attrs.field(
        default="mixture", validator=attrs.validators.in_(("mixture", "wiener"))
    )
    iterations: int = attrs.field(default=DEFAULT_ITERATIONS, validator=_non_negative)
    tolerance: float | None = attrs.field(default=DEFAULT_TOLERANCE, validator=_tolerance)
    patience: int = attrs.field(default=DEFAULT_PATIENCE, validator=_positive)
    assignments: Literal["uniform", "posterior"] = attrs.field(
        default="uniform", validator=attrs.validators.in_(("uniform", "posterior"))
    )
    power_sample: Literal["gaussian", "uniform", "mean"] = attrs.field(
        default="gaussian", validator=attrs.validators.in_(("gaussian", "uniform", "mean"))
    )
    chunk_frames: int = attrs.field(default=50, validator=_positive)
    overlap_frames: int = attrs.field(default=8, validator=_non_negative)
    max_batch: int = attrs.field(default=64, validator=_positive)
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        if self.chunk_frames < 2 or self.overlap_frames >= self.chunk_frames - 1:
            raise InputError(
                f"chunk_frames, overlap_frames: expected chunk_frames >= 2 and overlap_frames < chunk_frames - 1, "
                f"got {self.chunk_frames}, {self.overlap_frames}"
            )


def parse_sources(sources: str | Sequence[str]) -> list[tuple[str, str]]:
    """Source names and their checkpoints from ``"speech,flute"`` or ``["speech", "flute=run.pt"]``.

    Each item is a known name (:data:`KNOWN_SOURCES`) or ``name=checkpoint`` (a pretrained name
    or a file). Raises :class:`InputError` for an unknown name, listing the known ones, for a
    repeated name and for fewer than two sources.
    """
    items = [s.strip() for s in sources.split(",")] if isinstance(sources, str) else [str(s).strip() for s in sources]
    parsed: list[tuple[str, str]] = []
    for item in items:
        name, sep, checkpoint = item.partition("=")
        name = name.strip()
        if not name:
            raise InputError(f"sources: expected names such as 'speech,flute', got an empty name in {items}")
        if not sep:
            if name not in KNOWN_SOURCES:
                raise InputError(
                    f"sources: unknown source {name!r}; known sources: {', '.join(sorted(KNOWN_SOURCES))} "
                    f"(or give a checkpoint as NAME=PATH)"
                )
            checkpoint = KNOWN_SOURCES[name]
        parsed.append((name, checkpoint.strip()))
    names = [name for name, _ in parsed]
    if len(set(names)) != len(names):
        raise InputError(f"sources: expected distinct names, got {names}")
    if len(parsed) < 2:
        raise InputError(f"sources: expected at least two sources to separate, got {names}")
    return parsed


@attrs.frozen(kw_only=True)
class SpectralSeparation:
    """Separated spectrograms of a batch of sequences.

    ``sources``: posterior means, shape ``(batch, source, freq, frames)``, complex.
    ``masks``: assignment probabilities ``η``, shape ``(batch, source, freq, frames)``.
    ``elbo``: shape ``(iteration, batch)`` (empty for the DVAE-init alone; with
    ``init="mixture"`` its first row is the DVAE-init step's).
    ``n_iterations``: EM iterations run after the DVAE-init; ``converged``: whether the ELBO
    rule stopped EM.
    """

    sources: Tensor
    masks: Tensor
    elbo: Tensor
    n_iterations: int
    converged: bool


@attrs.frozen(kw_only=True)
class Separation:
    """The separated sources of one signal.

    ``sources``: name -> waveform, shape ``(samples,)``, float32, at ``sample_rate``, in the
    input's units (the normalisation gain is undone). ``gain``: the normalisation factor that
    was applied to the input (``1/peak``). ``mixture``: the input waveform (mono, at
    ``sample_rate``). ``n_iterations``: EM iterations per batch of chunks. ``masks``: when
    asked for, name -> assignment probabilities ``η``, shape ``(freq, frames)``.
    """

    sources: dict[str, Tensor]
    sample_rate: int
    gain: float
    mixture: Tensor
    n_iterations: list[int]
    n_chunks: int
    masks: dict[str, Tensor] | None = None

    def spectrograms(self, config: STFTConfig | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """STFTs of the mixture and of each source, each shape ``(freq, frames)``."""
        transform = STFT(config)
        return transform(self.mixture), {name: transform(wave) for name, wave in self.sources.items()}


def _dvae_variance(model: DynamicsModel, power: Tensor, time_mask: Tensor, generator: torch.Generator | None) -> Tensor:
    """A DVAE's predicted variance ``σ²`` run on ``power`` (teacher-forced, one ``z`` sample).

    ``power``: shape ``(batch, time, freq)``. Returns the same shape, positive.
    """
    network = getattr(model, "network", None)
    if network is None or not hasattr(network, "full_pass"):
        raise InputError(f"DVAE-init: expected a DVAE dynamics model (mixseq_dvae), got {type(model).__name__}")
    dtype = next(network.parameters()).dtype
    feats = network.features(power.to(dtype))
    prev = torch.cat([torch.zeros_like(feats[:, :1]), feats[:, :-1]], dim=1)
    out = network.full_pass(prev, feats, time_mask.sum(1), generator=generator)
    variance = torch.exp(out.logvar).to(power.dtype)
    return model.variance_scale * variance + model.min_variance  # type: ignore[operator]


def dvae_initialization(
    models: Sequence[DynamicsModel],
    obs: Tensor,
    obs_mask: Tensor,
    time_mask: Tensor,
    observation_model: STFTObservationModel,
    *,
    assignments: Literal["uniform", "posterior"] = "uniform",
    generator: torch.Generator | None = None,
) -> Initialization:
    """The DVAE-init starting point: each source's DVAE on the mixture power, Wiener posterior.

    ``obs``: the mixture bins, shape ``(batch, time, freq, 1)``, complex; ``obs_mask``:
    ``(batch, time, freq)``; ``time_mask``: ``(batch, time)``. With ``σ²_n`` source ``n``'s
    predicted variance and ``v_x`` the observation noise, the posterior of ``x = Σ s_n + e`` is
    ``m_n = σ²_n / S · x`` and ``V_n = σ²_n (S − σ²_n) / S`` with ``S = Σ_m σ²_m + v_x``.
    ``assignments="uniform"`` hands ``η = 1/N`` to the first E-S (the paper); ``"posterior"``
    leaves them to the first E-W step.
    """
    x = torch.where(obs_mask, obs[..., 0], torch.zeros((), dtype=obs.dtype, device=obs.device))
    power = x.real.square() + x.imag.square()
    v_x = observation_model.observation_variance(x)
    variances = torch.stack([_dvae_variance(m, power, time_mask, generator) for m in models], dim=2)  # (b, t, n, f)
    total = variances.sum(dim=2, keepdim=True) + v_x.unsqueeze(2)
    gain = variances / total
    mean = gain * x.unsqueeze(2)
    # S − σ²_n summed from the other terms, never by cancellation: always > 0 since v_x > 0
    rest = total - variances
    variance = variances * rest / total
    n_sources = len(models)
    eta = None
    if assignments == "uniform":
        eta = (obs_mask.to(power.dtype) / n_sources).unsqueeze(-1).expand(*obs_mask.shape, n_sources).contiguous()
    return Initialization(posterior=Gaussian(mean=mean, variance=variance), assignments=eta)


def _load_dynamics(checkpoint: str, power_sample: str) -> DynamicsModel:
    from mixseq_dvae.dynamics import SRNNDynamicsModel

    return SRNNDynamicsModel(checkpoint=checkpoint, power_sample=power_sample)


class Separator:
    """MixDVAE separation with one pretrained DVAE per source.

    Parameters
    ----------
    sources
        ``"speech,flute"``, or a sequence of names / ``name=checkpoint`` items (see
        :func:`parse_sources`).
    config
        A :class:`SeparationConfig`; keyword overrides (``iterations=70``) also work.
    device
        Where EM runs (``"cpu"``, ``"cuda"``).
    dynamics
        Replace the EM dynamics (one model per source; e.g. the VKF baseline). The DVAEs of
        ``sources`` still give the DVAE-init.
    stft_config
        STFT settings (default: the paper's, 16 kHz).
    """

    def __init__(
        self,
        sources: str | Sequence[str] = ("speech", "flute"),
        *,
        config: SeparationConfig | None = None,
        device: str | torch.device | None = None,
        dynamics: Sequence[DynamicsModel] | None = None,
        stft_config: STFTConfig | None = None,
        **overrides: Any,
    ) -> None:
        self.config = attrs.evolve(config or SeparationConfig(), **overrides)
        parsed = parse_sources(sources)
        self.names = [name for name, _ in parsed]
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("device: CUDA was asked for, but torch sees no CUDA device")
        self.init_models = [_load_dynamics(checkpoint, self.config.power_sample) for _, checkpoint in parsed]
        for name, model in zip(self.names, self.init_models, strict=True):
            if not model.is_complex or model.state_dim is None:
                raise InputError(f"sources: the checkpoint of {name!r} is not an audio (complex-decoder) model")
        if dynamics is not None and len(dynamics) != len(parsed):
            raise InputError(f"dynamics: expected one model per source ({len(parsed)}), got {len(dynamics)}")
        self.dynamics = list(dynamics) if dynamics is not None else self.init_models
        self.stft = STFT(stft_config)
        n_bins = self.stft.config.n_bins
        for name, model in zip(self.names, self.init_models, strict=True):
            if model.state_dim != n_bins:
                raise InputError(f"sources: the {name!r} model has {model.state_dim} bins, the STFT {n_bins}")
        self.observation_model = STFTObservationModel(n_bins=n_bins)
        self.engine = Engine(
            observation_model=self.observation_model,
            dynamics=self.dynamics,
            assignment_prior=BinAssignmentPrior(),
            max_iterations=self.config.iterations + (1 if self.config.init == "mixture" else 0) or 1,
            tolerance=self.config.tolerance,
            patience=self.config.patience,
        )
        for model in self.init_models:
            model.to(self.device)

    @property
    def sample_rate(self) -> int:
        """The rate the models work at (16 kHz)."""
        return self.stft.config.sample_rate

    def _generator(self, seed: int | None) -> torch.Generator:
        generator = torch.Generator(device=self.device)
        generator.manual_seed(self.config.seed if seed is None else seed)
        return generator

    # ------------------------------------------------------------------ spectrograms
    def separate_spectrograms(
        self,
        spectrogram: Tensor,
        n_frames: Tensor | None = None,
        *,
        iterations: int | None = None,
        generator: torch.Generator | None = None,
    ) -> SpectralSeparation:
        """Separate a batch of normalised mixture STFTs.

        ``spectrogram``: shape ``(batch, freq, frames)``, complex. ``n_frames``: valid frames
        per item, shape ``(batch,)`` (default: all). ``iterations`` overrides the config's
        budget for this call (0: DVAE-init alone).
        """
        if spectrogram.dim() != 3 or not spectrogram.is_complex():
            raise ShapeError(
                f"spectrogram: expected complex dims (batch, freq, frames), got {spectrogram.dtype} "
                f"{tuple(spectrogram.shape)}"
            )
        budget = self.config.iterations if iterations is None else iterations
        spectrogram = spectrogram.to(self.device, torch.complex64)
        obs, obs_mask = stft_to_observations(spectrogram, n_frames)
        time_mask = obs_mask[..., 0]
        generator = generator if generator is not None else self._generator(None)
        n_sources = len(self.names)
        if self.config.init == "mixture":
            # the DVAE-init is the engine's first iteration: E-Z on the mixture, E-S with η = 1/N
            init = self.observation_model.initialize(obs, obs_mask, n_sources, generator=generator)
            budget += 1
        else:
            with torch.no_grad():
                init = dvae_initialization(self.init_models, obs, obs_mask, time_mask, self.observation_model,
                                           assignments=self.config.assignments, generator=generator)
        if budget == 0:
            eta = init.assignments if init.assignments is not None else (
                obs_mask.float() / n_sources).unsqueeze(-1).expand(*obs_mask.shape, n_sources)
            means, masks, elbo = init.posterior.mean, eta, torch.zeros(0, obs.shape[0])
            n_iter, converged = 0, False
        else:
            engine = self.engine if budget == self.engine.config.max_iterations else self.engine.with_config(
                max_iterations=budget)
            result = engine.run(obs, obs_mask, time_mask, n_sources=n_sources, init=init,
                                generator=generator, device=self.device)
            means, masks, elbo = result.posterior.mean, result.assignments, result.elbo
            n_iter = result.n_iterations - (1 if self.config.init == "mixture" else 0)
            converged = result.converged
        sources = observations_to_stft(means)  # (batch, source, freq, frames)
        if not bool(torch.isfinite(torch.view_as_real(sources)).all()):
            raise MixseqError("separation produced non-finite values; please report this input")
        return SpectralSeparation(sources=sources, masks=masks.permute(0, 3, 2, 1), elbo=elbo,
                                  n_iterations=n_iter, converged=converged)

    # ------------------------------------------------------------------ waveforms
    def separate_batch(
        self,
        waveforms: Tensor,
        *,
        normalize: bool = True,
        iterations: int | None = None,
        seed: int | None = None,
    ) -> Tensor:
        """Separate a batch of short mixtures, each one sequence (no chunking).

        ``waveforms``: shape ``(batch, samples)`` at 16 kHz. Each item is peak-normalised on
        its own when ``normalize`` (the paper's evaluation protocol) and the gain undone.
        Returns shape ``(batch, source, samples)``.
        """
        if waveforms.dim() != 2 or waveforms.is_complex():
            raise ShapeError(f"waveforms: expected real dims (batch, samples), got {tuple(waveforms.shape)}")
        wave = waveforms.to(self.device, torch.float32)
        gain = torch.ones(wave.shape[0], 1, device=self.device)
        if normalize:
            peak = wave.abs().amax(dim=-1, keepdim=True)
            gain = torch.where(peak > 0, 1.0 / torch.where(peak > 0, peak, 1.0), 1.0)
        out = self.separate_spectrograms(self.stft(wave * gain), iterations=iterations,
                                         generator=self._generator(seed))
        estimates = self.stft.inverse(out.sources, length=wave.shape[-1])
        return estimates / gain.unsqueeze(1)

    def separate(
        self,
        audio: Tensor | str | os.PathLike[str],
        *,
        sample_rate: int | None = None,
        iterations: int | None = None,
        seed: int | None = None,
        progress: bool = False,
        with_masks: bool = False,
    ) -> Separation:
        """Separate one signal of any length.

        ``audio``: a waveform, shape ``(samples,)``, at ``sample_rate`` (default 16 kHz;
        other rates are resampled), or the path of an audio file (read with
        :func:`~mixseq_audio.audioio.read_audio`: mixed down to mono, resampled, checked).
        The whole signal is peak-normalised once, separated in overlapping chunks batched
        together, stitched, and the gain undone. Returns waveforms at 16 kHz.
        """
        if isinstance(audio, (str, os.PathLike)):
            mixture = read_audio(Path(audio), sample_rate=self.sample_rate).waveform
        else:
            if not isinstance(audio, Tensor):
                raise InputError(f"audio: expected a waveform tensor or a path, got {type(audio).__name__}")
            if audio.dim() != 1 or audio.is_complex():
                raise ShapeError(f"audio: expected real dims (samples,), got {audio.dtype} {tuple(audio.shape)}")
            if not bool(torch.isfinite(audio).all()):
                raise InputError("audio: expected finite samples, got NaN or infinity")
            mixture = audio.detach().to("cpu", torch.float32)
            rate = self.sample_rate if sample_rate is None else int(sample_rate)
            if rate != self.sample_rate:
                from mixseq_audio.audioio import resample

                mixture = resample(mixture, rate, self.sample_rate)
            if mixture.shape[-1] < self.stft.config.win_length:
                raise InputError(
                    f"audio: expected at least {self.stft.config.win_length} samples at {self.sample_rate} Hz "
                    f"(one STFT window), got {mixture.shape[-1]}"
                )
        peak = float(mixture.abs().max())
        gain = 1.0 / peak if peak > 0 else 1.0
        sources, masks, iterations_run, n_chunks = self._separate_chunked(
            mixture * gain, iterations=iterations, seed=seed, progress=progress, with_masks=with_masks)
        waves = {name: (sources[i] / gain).contiguous() for i, name in enumerate(self.names)}
        named_masks = None if masks is None else {name: masks[i] for i, name in enumerate(self.names)}
        return Separation(sources=waves, sample_rate=self.sample_rate, gain=gain, mixture=mixture,
                          n_iterations=iterations_run, n_chunks=n_chunks, masks=named_masks)

    def _chunk_plan(self, n_samples: int) -> tuple[int, int]:
        hop = self.stft.config.hop_length
        chunk = (self.config.chunk_frames - 1) * hop
        overlap = self.config.overlap_frames * hop
        if n_samples <= chunk:  # one chunk: no padding beyond the signal
            return n_samples, 0
        return chunk, overlap

    def _separate_chunked(
        self, wave: Tensor, *, iterations: int | None, seed: int | None, progress: bool, with_masks: bool
    ) -> tuple[Tensor, Tensor | None, list[int], int]:
        """Separate a normalised waveform in chunks. Returns ``(source, samples)`` and the masks."""
        chunk, overlap = self._chunk_plan(wave.shape[-1])
        chunks, plan = split_chunks(wave, chunk, overlap)
        hop = self.stft.config.hop_length
        valid = plan.mask().sum(dim=1)  # samples of signal per chunk
        n_frames = 1 + valid // hop
        n_sources = len(self.names)
        padded = (plan.n_chunks - 1) * plan.hop + plan.chunk_length
        out = torch.zeros(n_sources, padded)
        weights = plan.weights(torch.float32)
        indices = plan.indices()
        generator = self._generator(seed)
        iterations_run: list[int] = []
        mask_chunks: list[Tensor] = []
        groups = range(0, plan.n_chunks, self.config.max_batch)
        with ProgressBar(len(groups), desc="separating", enabled=progress) as bar:
            for start in groups:
                stop = min(start + self.config.max_batch, plan.n_chunks)
                spec = self.stft(chunks[start:stop].to(self.device))
                result = self.separate_spectrograms(spec, n_frames[start:stop], iterations=iterations,
                                                    generator=generator)
                estimates = self.stft.inverse(result.sources, length=plan.chunk_length).cpu()  # (b, n, samples)
                weighted = estimates * weights[start:stop].unsqueeze(1)
                out.index_add_(1, indices[start:stop].flatten(), weighted.permute(1, 0, 2).reshape(n_sources, -1))
                iterations_run.append(result.n_iterations)
                if with_masks:
                    mask_chunks.append(result.masks.cpu())
                bar.update()
        masks = _stitch_masks(mask_chunks, plan, hop) if with_masks else None
        return out[:, : plan.length], masks, iterations_run, plan.n_chunks


def _stitch_masks(chunks: list[Tensor], plan: ChunkPlan, hop: int) -> Tensor:
    """Frame-level masks of the whole signal from per-chunk masks (later chunks win overlaps).

    ``chunks``: each ``(b, source, freq, frames)``. Returns ``(source, freq, frames)``.
    """
    masks = torch.cat(chunks, dim=0)
    n_chunks, n_sources, n_bins, n_frames = masks.shape
    total = 1 + plan.length // hop
    out = torch.zeros(n_sources, n_bins, total)
    for i in range(n_chunks):
        first = i * plan.hop // hop
        count = min(n_frames, total - first)
        if count > 0:
            out[:, :, first : first + count] = masks[i, :, :, :count]
    return out


_SEPARATORS: dict[tuple[Any, ...], Separator] = {}


def separate(
    audio: Tensor | str | os.PathLike[str],
    sources: str | Sequence[str] = ("speech", "flute"),
    *,
    sample_rate: int | None = None,
    iterations: int | None = None,
    device: str | torch.device | None = None,
    config: SeparationConfig | None = None,
    seed: int | None = None,
) -> dict[str, Tensor]:
    """Separate a mixture into its sources with MixDVAE; see :class:`Separator`.

    ``audio``: a waveform, shape ``(samples,)``, at ``sample_rate`` (default 16 kHz), or an
    audio file. Returns name -> waveform, shape ``(samples,)``, at 16 kHz, in the input's units.
    The separators (loaded models) are cached per sources, device and config.
    """
    key_sources = sources if isinstance(sources, str) else tuple(sources)
    key = (key_sources, str(device), config)
    separator = _SEPARATORS.get(key)
    if separator is None:
        separator = Separator(sources, config=config, device=device)
        _SEPARATORS[key] = separator
    return separator.separate(audio, sample_rate=sample_rate, iterations=iterations, seed=seed).sources

