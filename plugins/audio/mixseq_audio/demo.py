"""The ``separation`` part of ``mixseq demo``, and how its bundled mixture was made.

The mixture in ``mixseq_audio/demo_data`` is 4 s at 16 kHz: read English speech (LibriVox,
public domain, from the Debian package ``pocketsphinx-testdata``) plus a flute melody of this
project (:mod:`mixseq_audio.midi`, its own seed) rendered with the FluidR3 General MIDI sound font
(MIT licence), at −5 dB speech-to-flute, peak-normalised. Neither recording is in the DVAEs'
training data. ``demo_data/README.md`` has the licences; rebuild with
``python -m mixseq_audio.demo --build`` (needs ``pocketsphinx-testdata``, ``fluidsynth`` and
``fluid-soundfont-gm``).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from mixseq.errors import InputError

__all__ = ["DEMO_DIR", "build_demo_data", "load_demo", "run_demo"]

logger = logging.getLogger(__name__)

#: The bundled demo files.
DEMO_DIR = Path(str(resources.files("mixseq_audio") / "demo_data"))
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav")
SECONDS = 4.0
SNR_DB = -5.0
#: Seed of the demo's flute melody (a melody no corpus split contains).
DEMO_SEED = 20240


def load_demo(folder: Path = DEMO_DIR) -> tuple[torch.Tensor, dict[str, torch.Tensor], int]:
    """The demo mixture, shape ``(samples,)``, its references by name and the sample rate."""
    waves: dict[str, torch.Tensor] = {}
    rate = 0
    for name in ("mixture", "speech", "flute"):
        path = folder / f"{name}.flac"
        if not path.is_file():
            raise InputError(f"{path}: the demo data is missing (python -m mixseq_audio.demo --build)")
        data, rate = sf.read(path, dtype="float32")
        waves[name] = torch.from_numpy(data)
    mixture = waves.pop("mixture")
    return mixture, waves, rate


def run_demo(output_dir: Path, quiet: bool) -> None:
    """Separate the bundled mixture; print SI-SDR before/after; save wavs and a plot."""
    from mixseq_audio.audioio import write_audio
    from mixseq_audio.metrics import si_sdr
    from mixseq_audio.plotting import plot_separation
    from mixseq_audio.separation import Separator

    mixture, references, rate = load_demo()
    start = time.perf_counter()
    separator = Separator(("speech", "flute"))
    result = separator.separate(mixture, sample_rate=rate, progress=not quiet, with_masks=True)
    elapsed = time.perf_counter() - start
    seconds = mixture.shape[-1] / rate
    print(f"separation demo: {seconds:.1f} s of LibriVox speech + a FluidR3 flute at {SNR_DB:.0f} dB, "
          f"MixDVAE with the pretrained srnn-speech and srnn-flute, "
          f"{max(result.n_iterations)} EM iteration(s), {elapsed:.1f} s")
    print(f"  {'source':<8} {'SI-SDR mixture':>15} {'SI-SDR MixDVAE':>15} {'improvement':>12}")
    for name, reference in references.items():
        before = float(si_sdr(mixture, reference))
        after = float(si_sdr(result.sources[name], reference))
        print(f"  {name:<8} {before:12.1f} dB {after:12.1f} dB {after - before:+9.1f} dB")
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, wave in result.sources.items():
        write_audio(output_dir / f"separation-{name}.wav", wave, rate)
    mix_spec, source_specs = result.spectrograms(separator.stft.config)
    plot = plot_separation(output_dir / "separation.png", mix_spec, source_specs, masks=result.masks,
                           references={n: separator.stft(w) for n, w in references.items()},
                           config=separator.stft.config, title="MixDVAE: speech + flute")
    print(f"  outputs: {output_dir / 'separation-speech.wav'}, {output_dir / 'separation-flute.wav'}, {plot}")


def build_demo_data(folder: Path = DEMO_DIR, *, tune: Path | None = None) -> None:
    """Write ``mixture.flac``, ``speech.flac`` and ``flute.flac`` (16-bit, 16 kHz) to ``folder``."""
    from mixseq_audio.audioio import read_audio
    from mixseq_audio.data import mix_at_snr, peak_normalize
    from mixseq_audio.midi import random_melody, render_midi, write_midi

    n_samples = int(SECONDS * 16000)
    speech = read_audio(LIBRIVOX, warn=False).waveform[8000 : 8000 + n_samples].double()
    with tempfile.TemporaryDirectory() as tmp:
        if tune is None:
            melody = random_melody(np.random.default_rng(DEMO_SEED), program=73, duration=8.0)
            tune = write_midi(Path(tmp) / "tune.mid", melody)
        wav = render_midi(tune, Path(tmp) / "flute.wav")
        flute = read_audio(wav, warn=False).waveform
    active = (flute.abs() > 0.01 * flute.abs().max()).nonzero()
    first = int(active[0]) if len(active) else 0
    flute = flute[first : first + n_samples].double()
    if flute.shape[-1] < n_samples:
        raise InputError(f"the flute rendering is shorter than {SECONDS} s")
    mixture, flute = mix_at_snr(speech, flute, SNR_DB)
    mixture, gain = peak_normalize(mixture, 0.9)  # 0.9: 16-bit FLAC of the sum must not clip
    folder.mkdir(parents=True, exist_ok=True)
    for name, wave in (("mixture", mixture), ("speech", speech * gain), ("flute", flute * gain)):
        sf.write(folder / f"{name}.flac", wave.float().numpy(), 16000, subtype="PCM_16")


def main() -> None:
    """``python -m mixseq_audio.demo [--build] [--output-dir DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", action="store_true", help="rebuild the bundled demo files")
    parser.add_argument("--output-dir", type=Path, default=Path("demo-output"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.build:
        build_demo_data()
        return
    run_demo(args.output_dir, quiet=False)


if __name__ == "__main__":
    main()
