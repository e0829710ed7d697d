"""Pentatonic flute melodies as hand-written MIDI files, rendered with FluidSynth.

The paper's music corpus is a bamboo flute (dizi). Here melodies in the five pentatonic modes
are generated at random — tempo, register, phrase lengths, articulation (legato, detached,
staccato), grace notes, scoops and falls written as pitch bends, vibrato as a pitch-bend LFO
and breath dynamics as expression — written as a standard MIDI file (format 0) byte by byte,
and rendered by FluidSynth with a General MIDI sound font of sampled instruments::

    fluidsynth -ni -q -r 16000 -F out.wav -T wav /usr/share/sounds/sf2/FluidR3_GM.sf2 tune.mid
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import attrs
import numpy as np

from mixseq.errors import InputError, MixseqError

__all__ = [
    "DEFAULT_SOUNDFONT",
    "FLUTE_PROGRAMS",
    "Melody",
    "Note",
    "melody_to_midi",
    "random_melody",
    "render_midi",
    "write_midi",
]

#: Sound font of the Debian package ``fluid-soundfont-gm``.
DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

#: General MIDI programs (0-based) used, with their playable MIDI pitch range.
FLUTE_PROGRAMS: dict[int, tuple[str, int, int]] = {
    73: ("Flute", 60, 96),
    75: ("Pan Flute", 60, 91),
    77: ("Shakuhachi", 55, 84),
}

#: The major pentatonic scale; its rotations are the five Chinese modes (gong ... yu).
PENTATONIC = (0, 2, 4, 7, 9)
TICKS_PER_BEAT = 480
#: Pitch-bend range set through RPN 0, in semitones.
BEND_RANGE = 2
#: Seconds between successive pitch-bend / expression events of a curve.
CURVE_STEP = 0.015


@attrs.frozen
class Note:
    """One note: ``start`` and ``duration`` in beats, MIDI ``pitch``, ``velocity`` 1–127."""

    start: float
    duration: float
    pitch: int
    velocity: int


@attrs.frozen(kw_only=True)
class Melody:
    """A monophonic melody with its controller curves.

    ``bends`` are ``(beat, cents)`` points of the pitch-bend curve (held until the next);
    ``expression`` are ``(beat, value)`` points of controller 11.
    """

    program: int
    tempo_bpm: float
    notes: tuple[Note, ...]
    bends: tuple[tuple[float, float], ...] = ()
    expression: tuple[tuple[float, int], ...] = ()

    @property
    def duration_beats(self) -> float:
        """End of the last note, in beats."""
        return max((n.start + n.duration for n in self.notes), default=0.0)

    @property
    def duration_seconds(self) -> float:
        """End of the last note, in seconds."""
        return self.duration_beats * 60.0 / self.tempo_bpm


def _vlq(value: int) -> bytes:
    """MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _bend_value(cents: float) -> int:
    """14-bit pitch-bend value for a deviation in cents (centre 8192)."""
    value = 8192 + round(cents / (100 * BEND_RANGE) * 8192)
    return min(max(value, 0), 16383)


def melody_to_midi(melody: Melody, *, channel: int = 0) -> bytes:
    """The melody as a format-0 standard MIDI file."""
    if not 0 <= melody.program <= 127 or not 0 <= channel <= 15:
        raise InputError(f"melody: expected program 0-127 and channel 0-15, got {melody.program}, {channel}")

    def tick(beat: float) -> int:
        return max(round(beat * TICKS_PER_BEAT), 0)

    tempo = round(60_000_000 / melody.tempo_bpm)
    # (tick, order, bytes); order puts set-up first and note-offs before note-ons at one tick
    events: list[tuple[int, int, bytes]] = [
        (0, 0, b"\xff\x51\x03" + tempo.to_bytes(3, "big")),
        (0, 0, bytes([0xC0 | channel, melody.program])),
        (0, 0, bytes([0xB0 | channel, 101, 0])),  # select RPN 0 (pitch-bend range) ...
        (0, 0, bytes([0xB0 | channel, 100, 0])),
        (0, 0, bytes([0xB0 | channel, 6, BEND_RANGE])),  # ... and set it, in semitones
        (0, 0, bytes([0xB0 | channel, 38, 0])),
        (0, 0, bytes([0xB0 | channel, 7, 110])),
    ]
    for note in melody.notes:
        if not 0 <= note.pitch <= 127:
            raise InputError(f"melody: note pitch must be 0-127, got {note.pitch}")
        velocity = min(max(int(note.velocity), 1), 127)
        events.append((tick(note.start), 2, bytes([0x90 | channel, note.pitch, velocity])))
        events.append((tick(note.start + note.duration), 1, bytes([0x80 | channel, note.pitch, 0])))
    for beat, cents in melody.bends:
        value = _bend_value(cents)
        events.append((tick(beat), 0, bytes([0xE0 | channel, value & 0x7F, value >> 7])))
    for beat, level in melody.expression:
        events.append((tick(beat), 0, bytes([0xB0 | channel, 11, min(max(int(level), 0), 127)])))
    events.sort(key=lambda e: (e[0], e[1]))  # stable: set-up messages keep their order
    track = bytearray()
    now = 0
    for at, _, payload in events:
        track += _vlq(at - now)
        track += payload  # no running status: every event carries its status byte
        now = at
    track += _vlq(0) + b"\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big")
    header += TICKS_PER_BEAT.to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track)


def write_midi(path: str | os.PathLike[str], melody: Melody) -> Path:
    """Write the melody as a ``.mid`` file and return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(melody_to_midi(melody))
    return target


def random_melody(
    rng: np.random.Generator, *, program: int = 73, duration: float = 20.0
) -> Melody:
    """A random pentatonic melody of about ``duration`` seconds for a GM flute ``program``.

    ``rng`` draws everything (a :class:`numpy.random.Generator`; the global state is never
    touched).
    """
    if program not in FLUTE_PROGRAMS:
        raise InputError(f"program: expected one of {sorted(FLUTE_PROGRAMS)}, got {program}")
    _, lowest, highest = FLUTE_PROGRAMS[program]
    tempo = float(rng.uniform(60, 132))
    sec = 60.0 / tempo  # seconds per beat
    root = int(rng.integers(12))
    # the mode is the scale degree that phrases come to rest on (gong, shang, jue, zhi, yu)
    tonic = (root + PENTATONIC[int(rng.integers(5))]) % 12
    span = int(rng.integers(14, 20))
    low = int(rng.integers(lowest, highest - span + 1))
    scale = [p for p in range(low, low + span + 1) if (p - root) % 12 in PENTATONIC]
    tonics = np.array([i for i, p in enumerate(scale) if p % 12 == tonic])
    vibrato_depth = float(rng.choice([0.0, rng.uniform(8, 25), rng.uniform(25, 45)]))
    vibrato_rate = float(rng.uniform(4.5, 6.5))
    lively = rng.random() < 0.5
    durations = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0])
    weights = np.array([3, 5, 2, 4, 2, 1, 0.5]) if lively else np.array([0.5, 3, 2, 5, 3, 2, 1])
    weights = weights / weights.sum()

    notes: list[Note] = []
    bends: list[tuple[float, float]] = [(0.0, 0.0)]
    expression: list[tuple[float, int]] = []
    index = int(rng.integers(len(scale) // 3, 2 * len(scale) // 3 + 1))
    beat = 0.0
    while beat * sec < duration:
        articulation = float(rng.choice([rng.uniform(0.97, 1.0), rng.uniform(0.7, 0.9), rng.uniform(0.35, 0.55)],
                                        p=[0.5, 0.35, 0.15]))
        base_velocity = int(rng.integers(60, 111))
        n_notes = int(rng.integers(4, 11))
        phrase_start = beat
        for position in range(n_notes):
            last = position == n_notes - 1
            length = float(rng.uniform(1.5, 4.0)) if last else float(rng.choice(durations, p=weights))
            step = int(rng.choice([-4, -2, -1, 0, 1, 2, 4], p=[0.05, 0.2, 0.25, 0.05, 0.25, 0.15, 0.05]))
            index = int(np.clip(index + step, 0, len(scale) - 1))
            if last and len(tonics) and rng.random() < 0.7:  # come to rest on the mode's tonic
                index = int(tonics[np.abs(tonics - index).argmin()])
            pitch = scale[index]
            velocity = base_velocity + int(rng.integers(-8, 9)) + (10 if beat % 2 == 0 else 0)
            if rng.random() < 0.15 and index + 1 < len(scale) and length >= 0.5:
                grace = min(0.1 / sec, 0.25)
                notes.append(Note(beat, grace, scale[index + 1], velocity - 10))
                beat += grace
                length -= grace
            sounding = length * (1.0 if last else articulation)
            notes.append(Note(beat, sounding, pitch, velocity))
            bends.extend(_note_bends(rng, beat, sounding, sec, vibrato_depth, vibrato_rate, last))
            beat += length
        expression.extend(_phrase_expression(rng, phrase_start, beat, sec))
        beat += float(rng.uniform(0.5, 2.0))  # breath
    return Melody(
        program=program, tempo_bpm=tempo, notes=tuple(notes), bends=tuple(bends), expression=tuple(expression)
    )


def _note_bends(
    rng: np.random.Generator, start: float, length: float, sec: float, depth: float, rate: float, last: bool
) -> list[tuple[float, float]]:
    """Pitch-bend points for one note: scoop in, vibrato, fall at a phrase end; back to 0."""
    seconds = length * sec
    times = np.arange(0.0, seconds, CURVE_STEP)
    cents = np.zeros_like(times)
    if seconds > 0.3 and rng.random() < 0.2:  # scoop up into the note
        glide = float(rng.uniform(0.06, 0.2))
        cents += np.where(times < glide, -float(rng.uniform(60, 150)) * (1 - times / glide), 0.0)
    if seconds > 0.4 and depth > 0:
        delay = float(rng.uniform(0.15, 0.35))
        ramp = np.clip((times - delay) / 0.2, 0.0, 1.0)
        cents += depth * ramp * np.sin(2 * np.pi * rate * (times - delay))
    if last and seconds > 0.5 and rng.random() < 0.3:  # fall off the phrase's last note
        fall = float(rng.uniform(0.15, 0.3))
        cents += np.where(times > seconds - fall, -float(rng.uniform(100, 200)) * (times - seconds + fall) / fall, 0.0)
    points = [(start + t / sec, float(c)) for t, c in zip(times, cents, strict=True)]
    points.append((start + length, 0.0))
    return points


def _phrase_expression(rng: np.random.Generator, start: float, stop: float, sec: float) -> list[tuple[float, int]]:
    """Controller 11 over one phrase: a breath arch from soft to loud and back."""
    low, high, end = int(rng.integers(70, 95)), int(rng.integers(105, 128)), int(rng.integers(70, 100))
    peak = float(rng.uniform(0.3, 0.7))
    beats = np.arange(start, stop, CURVE_STEP / sec * 2)
    phase = (beats - start) / max(stop - start, 1e-9)
    level = np.where(phase < peak, low + (high - low) * phase / peak, high + (end - high) * (phase - peak) / (1 - peak))
    return [(float(b), int(v)) for b, v in zip(beats, level, strict=True)]


def render_midi(
    midi_path: str | os.PathLike[str],
    wav_path: str | os.PathLike[str],
    *,
    soundfont: str | os.PathLike[str] = DEFAULT_SOUNDFONT,
    sample_rate: int = 16000,
    reverb: bool = True,
    gain: float = 1.0,
    timeout: float = 120.0,
) -> Path:
    """Render a MIDI file to a wav file with FluidSynth (no audio device, no shell)."""
    executable = shutil.which("fluidsynth")
    if executable is None:
        raise MixseqError("fluidsynth is not installed (Debian: apt-get install fluidsynth fluid-soundfont-gm)")
    if not Path(soundfont).is_file():
        raise InputError(f"{soundfont}: expected a sound font file (Debian: fluid-soundfont-gm)")
    target = Path(wav_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [
        executable, "-ni", "-q", "-r", str(sample_rate), "-g", str(gain),
        "-R", "1" if reverb else "0", "-C", "0",
        "-F", str(target), "-T", "wav", str(soundfont), str(midi_path),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0 or not target.is_file():
        raise MixseqError(f"fluidsynth failed on {midi_path}: {result.stderr.strip() or result.stdout.strip()}")
    return target
