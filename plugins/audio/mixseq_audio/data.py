"""Single-source corpora and mixtures for training and evaluating audio separation.

A *corpus* is one class of sound (speech, flute, ...) stored in a folder::

    <corpus>/
      description.json      what is inside: STFT settings, splits, sizes, source files
      train.npy             power spectra |STFT|², shape (chunks, frames, freq), float32
      train.flac            the segments' waveforms one after the other, 16-bit, 16 kHz
      valid.npy, valid.flac, test.npy, test.flac

Each source file is read (any format soundfile reads), mixed down to mono, resampled to
16 kHz, trimmed of leading and trailing silence and peak-normalised; that is a *segment*.
Segments are stored as FLAC and read back, and the spectra are computed from what was read, so
:func:`spectra_from_segments` on :func:`load_segments` reproduces the ``.npy`` file. Each
segment is cut into chunks of ``chunk_frames`` frames (the DVAE trains on 50); a remainder
gets one more chunk aligned to the segment's end; segments shorter than one chunk are skipped.

WSJ0 (licensed; for users who have it) is read from its standard layout, with the utterances
converted to a format libsndfile reads (``sph2pipe -f wav x.wv1 x.wav``; uncompressed NIST
SPHERE files are read as they are)::

    <wsj0>/si_tr_s/<speaker>/<utterance>.wav    -> train
    <wsj0>/si_dt_05/<speaker>/<utterance>.wav   -> valid
    <wsj0>/si_et_05/<speaker>/<utterance>.wav   -> test
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs
import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from mixseq.errors import InputError, ShapeError
from mixseq.fileio import atomic_path, write_text_atomic
from mixseq_audio.audioio import read_audio
from mixseq_audio.transforms import STFTConfig, power_spectrogram

__all__ = [
    "AUDIO_EXTENSIONS",
    "CorpusConfig",
    "active_fraction",
    "chunk_frames",
    "list_audio_files",
    "load_segments",
    "load_spectra",
    "mix_at_snr",
    "peak_normalize",
    "prepare_segment",
    "spectra_from_segments",
    "trim_silence",
    "write_corpus_split",
    "write_description",
    "wsj0_files",
]

logger = logging.getLogger(__name__)

#: File name suffixes picked up when a folder is scanned for audio.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au", ".wv1", ".sph")

#: WSJ0 folder of each split.
WSJ0_SPLITS = {"train": "si_tr_s", "valid": "si_dt_05", "test": "si_et_05"}


@attrs.frozen(kw_only=True)
class CorpusConfig:
    """How source files become training chunks.

    Parameters
    ----------
    stft
        STFT settings (sample rate included).
    chunk_frames
        Frames per training chunk.
    trim_db
        Frames quieter than this (dB below the loudest frame) are trimmed from both ends.
    peak
        Peak amplitude every segment is normalised to.
    """

    stft: STFTConfig = attrs.field(factory=STFTConfig)
    chunk_frames: int = attrs.field(default=50, validator=attrs.validators.gt(0))
    trim_db: float = attrs.field(default=40.0, validator=attrs.validators.gt(0))
    peak: float = attrs.field(default=1.0, validator=[attrs.validators.gt(0), attrs.validators.le(1)])

    def to_dict(self) -> dict[str, object]:
        """The settings as a JSON-ready dictionary."""
        return attrs.asdict(self)


def peak_normalize(waveform: Tensor, peak: float = 1.0) -> tuple[Tensor, Tensor]:
    """Scale each signal so that its largest magnitude is ``peak``.

    ``waveform``: shape ``(..., samples)``. Returns the scaled signals, same shape, and the
    gains, shape ``(...)``. A silent signal keeps gain 1 (nothing to normalise, no division by
    zero).
    """
    top = waveform.abs().amax(dim=-1)
    gain = torch.where(top > 0, peak / torch.where(top > 0, top, torch.ones_like(top)), torch.ones_like(top))
    return waveform * gain.unsqueeze(-1), gain


def _frame_rms(waveform: Tensor, frame: int) -> Tensor:
    """RMS of consecutive frames of ``frame`` samples (the last zero-padded). Shape ``(frames,)``."""
    if waveform.dim() != 1:
        raise ShapeError(f"waveform: expected dims (samples,), got {tuple(waveform.shape)}")
    n_frames = -(-waveform.shape[0] // frame)
    padded = torch.nn.functional.pad(waveform, (0, n_frames * frame - waveform.shape[0]))
    return padded.view(n_frames, frame).square().mean(dim=1).sqrt()


def active_fraction(waveform: Tensor, *, sample_rate: int = 16000, threshold_db: float = 30.0) -> float:
    """Share of 20 ms frames within ``threshold_db`` of the loudest. ``waveform``: ``(samples,)``."""
    rms = _frame_rms(waveform, max(sample_rate // 50, 1))
    loudest = rms.max()
    if not bool(loudest > 0):
        return 0.0
    return float((rms >= loudest * 10 ** (-threshold_db / 20)).double().mean())


def trim_silence(
    waveform: Tensor, *, sample_rate: int = 16000, threshold_db: float = 40.0, margin: float = 0.05
) -> Tensor:
    """Remove leading and trailing silence.

    Silence is any 20 ms frame whose RMS lies more than ``threshold_db`` below the loudest
    frame's. ``margin`` seconds of context are kept on both sides. ``waveform``: shape
    ``(samples,)``. Returns shape ``(kept,)``; empty when the signal is all zeros.
    """
    frame = max(sample_rate // 50, 1)
    rms = _frame_rms(waveform, frame)
    loudest = rms.max()
    if not bool(loudest > 0):
        return waveform[:0]
    loud = torch.nonzero(rms >= loudest * 10 ** (-threshold_db / 20)).flatten()
    pad = round(margin * sample_rate)
    start = max(int(loud[0]) * frame - pad, 0)
    stop = min((int(loud[-1]) + 1) * frame + pad, waveform.shape[0])
    return waveform[start:stop]


def chunk_frames(frames: Tensor, n_frames: int) -> Tensor:
    """Cut a sequence of frames into chunks of ``n_frames``.

    Chunks start every ``n_frames``; a remainder gets one more chunk aligned to the end.
    ``frames``: shape ``(time, ...)``. Returns shape ``(chunks, n_frames, ...)``; no chunk
    when ``time < n_frames``.
    """
    length = frames.shape[0]
    if length < n_frames:
        return frames.new_zeros((0, n_frames, *frames.shape[1:]))
    starts = list(range(0, length - n_frames + 1, n_frames))
    if starts[-1] + n_frames < length:
        starts.append(length - n_frames)
    index = torch.tensor(starts)[:, None] + torch.arange(n_frames)
    return frames[index]


def mix_at_snr(target: Tensor, interferer: Tensor, snr_db: float | Tensor) -> tuple[Tensor, Tensor]:
    """Scale ``interferer`` so that ``10·log10(P_target / P_interferer) = snr_db``.

    ``target``, ``interferer``: shape ``(..., samples)``. ``snr_db``: a number or shape
    ``(...)``. Returns the mixture and the scaled interferer, both shape ``(..., samples)``.
    A silent interferer stays silent; a silent target leaves the interferer unscaled.
    """
    if target.shape != interferer.shape:
        raise ShapeError(
            f"interferer: expected the target's shape {tuple(target.shape)}, got "
            f"{tuple(interferer.shape)}"
        )
    snr = torch.as_tensor(snr_db, dtype=target.dtype, device=target.device)
    p_target = target.square().mean(dim=-1)
    p_interf = interferer.square().mean(dim=-1)
    usable = (p_target > 0) & (p_interf > 0)
    ratio = torch.where(usable, p_target, torch.ones_like(p_target)) / torch.where(
        usable, p_interf, torch.ones_like(p_interf)
    )
    gain = torch.where(usable, torch.sqrt(ratio * 10 ** (-snr / 10)), torch.ones_like(ratio))
    scaled = interferer * gain.unsqueeze(-1)
    return target + scaled, scaled


def list_audio_files(folders: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """All audio files (by suffix, :data:`AUDIO_EXTENSIONS`) under the folders, sorted."""
    if isinstance(folders, (str, os.PathLike)):
        folders = [folders]
    found: list[Path] = []
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            raise InputError(f"{root}: expected a folder of audio files, but no such folder exists")
        found.extend(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    return sorted(found)


def wsj0_files(root: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """The utterances of a WSJ0 copy per split (``train``, ``valid``, ``test``).

    Looks for ``si_tr_s``, ``si_dt_05`` and ``si_et_05`` under ``root`` (or its ``wsj0``
    sub-folder) with one folder per speaker; see the module documentation for the layout.
    """
    base = Path(root)
    if not (base / WSJ0_SPLITS["train"]).is_dir() and (base / "wsj0").is_dir():
        base = base / "wsj0"
    missing = [name for name in WSJ0_SPLITS.values() if not (base / name).is_dir()]
    if missing:
        raise InputError(
            f"{base}: expected the WSJ0 folders {', '.join(WSJ0_SPLITS.values())}, "
            f"missing {', '.join(missing)}"
        )
    files = {split: list_audio_files(base / name) for split, name in WSJ0_SPLITS.items()}
    for split, paths in files.items():
        if not paths:
            raise InputError(f"{base / WSJ0_SPLITS[split]}: expected utterances, found no audio file")
    return files


def prepare_segment(path: str | os.PathLike[str], config: CorpusConfig) -> Tensor | None:
    """Read, mix down, resample, trim and peak-normalise one file.

    Returns shape ``(samples,)`` at ``config.stft.sample_rate``, or ``None`` when nothing
    but silence is left.
    """
    clip = read_audio(path, sample_rate=config.stft.sample_rate, min_samples=1, warn=False)
    trimmed = trim_silence(clip.waveform, sample_rate=clip.sample_rate, threshold_db=config.trim_db)
    if trimmed.shape[0] < config.stft.win_length:
        return None
    return peak_normalize(trimmed, config.peak)[0]


def spectra_from_segments(segments: Sequence[Tensor], config: CorpusConfig) -> Tensor:
    """Power-spectrum chunks of every segment, concatenated.

    ``segments``: each shape ``(samples,)``. Returns shape ``(chunks, chunk_frames, freq)``.
    """
    chunks = [chunk_frames(power_spectrogram(seg, config.stft), config.chunk_frames) for seg in segments]
    if not chunks:
        return torch.zeros(0, config.chunk_frames, config.stft.n_bins)
    return torch.cat(chunks).to(torch.float32)


def write_corpus_split(
    out_dir: str | os.PathLike[str],
    split: str,
    segments: Sequence[tuple[str, Tensor]],
    config: CorpusConfig,
) -> dict[str, object]:
    """Write one split of a corpus: ``<split>.flac``, ``<split>.npy``; return its summary.

    ``segments``: ``(source name, waveform)`` pairs, waveforms shape ``(samples,)`` at
    ``config.stft.sample_rate``. The summary (chunks, seconds, segment table) goes into the
    corpus's ``description.json`` (see :func:`write_description`).
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    rate = config.stft.sample_rate
    waves = [wave.detach().to("cpu", torch.float32) for _, wave in segments]
    stream = torch.cat(waves) if waves else torch.zeros(0)
    with atomic_path(root / f"{split}.flac") as tmp:
        sf.write(tmp, stream.numpy(), rate, subtype="PCM_16")
    stored = load_segments(root, split, lengths=[w.shape[0] for w in waves], sample_rate=rate)
    spectra = spectra_from_segments(stored, config)
    with atomic_path(root / f"{split}.npy") as tmp, open(tmp, "wb") as handle:
        np.save(handle, spectra.numpy())
    table = []
    start = 0
    for (name, _), wave in zip(segments, waves, strict=True):
        table.append({"source": name, "start": start, "length": int(wave.shape[0])})
        start += int(wave.shape[0])
    return {
        "chunks": int(spectra.shape[0]),
        "shape": list(spectra.shape),
        "seconds": round(start / rate, 2),
        "segments": table,
    }


def write_description(out_dir: str | os.PathLike[str], description: dict[str, object]) -> Path:
    """Write ``description.json`` of a corpus atomically and return its path."""
    path = Path(out_dir) / "description.json"
    write_text_atomic(path, json.dumps(description, indent=1) + "\n")
    return path


def load_segments(
    corpus_dir: str | os.PathLike[str],
    split: str,
    *,
    lengths: Sequence[int] | None = None,
    sample_rate: int = 16000,
) -> list[Tensor]:
    """The segments of one split, each shape ``(samples,)``.

    ``lengths`` defaults to the segment table in ``description.json``.
    """
    root = Path(corpus_dir)
    if lengths is None:
        description = json.loads((root / "description.json").read_text())
        lengths = [row["length"] for row in description["splits"][split]["segments"]]
    data, rate = sf.read(root / f"{split}.flac", dtype="float32")
    if rate != sample_rate or data.ndim != 1 or data.shape[0] != sum(lengths):
        raise InputError(
            f"{root / f'{split}.flac'}: expected {sum(lengths)} mono samples at {sample_rate} Hz, "
            f"got shape {data.shape} at {rate} Hz"
        )
    return list(torch.from_numpy(data).split(list(lengths)))


def load_spectra(path: str | os.PathLike[str]) -> Tensor:
    """Power-spectrum chunks of a corpus split (``<corpus>/<split>.npy``).

    Returns shape ``(chunks, frames, freq)``, float32.
    """
    array = np.load(path)
    if array.ndim != 3:
        raise ShapeError(f"{path}: expected dims (chunks, frames, freq), got {array.shape}")
    return torch.from_numpy(array)
