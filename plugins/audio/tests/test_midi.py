from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixseq.errors import InputError
from mixseq_audio.midi import (
    DEFAULT_SOUNDFONT,
    FLUTE_PROGRAMS,
    PENTATONIC,
    Melody,
    Note,
    melody_to_midi,
    random_melody,
    render_midi,
    write_midi,
)


def _events(data: bytes) -> list[tuple[int, bytes]]:
    """A minimal reader of the format-0 files written here: (absolute tick, message)."""
    assert data[:4] == b"MThd" and int.from_bytes(data[8:10], "big") == 0
    assert data[14:18] == b"MTrk" and int.from_bytes(data[18:22], "big") == len(data) - 22
    pos, now, events = 22, 0, []
    while pos < len(data):
        delta = 0
        while True:
            byte = data[pos]
            pos += 1
            delta = (delta << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        now += delta
        status = data[pos]
        if status == 0xFF:
            size = data[pos + 2]
            message = data[pos : pos + 3 + size]
        else:
            message = data[pos : pos + (2 if status >> 4 == 0xC else 3)]
        events.append((now, message))
        pos += len(message)
    return events


def test_hand_written_midi_is_well_formed() -> None:
    melody = Melody(program=75, tempo_bpm=120.0, notes=(Note(0.0, 1.0, 69, 100), Note(1.0, 0.5, 72, 90)),
                    bends=((0.0, 0.0), (0.5, 100.0), (1.0, -200.0)), expression=((0.0, 90),))
    events = _events(melody_to_midi(melody))
    messages = [m for _, m in events]
    assert messages[0] == b"\xff\x51\x03" + (500000).to_bytes(3, "big")  # 120 bpm
    assert bytes([0xC0, 75]) in messages
    assert messages[-1] == b"\xff\x2f\x00"
    ons = [(t, m[1]) for t, m in events if m[0] == 0x90]
    offs = [(t, m[1]) for t, m in events if m[0] == 0x80]
    assert ons == [(0, 69), (480, 72)] and offs == [(480, 69), (720, 72)]
    assert events.index((480, bytes([0x80, 69, 0]))) < events.index((480, bytes([0x90, 72, 90])))
    bends = [(t, m[1] | m[2] << 7) for t, m in events if m[0] == 0xE0]
    assert bends == [(0, 8192), (240, 8192 + 4096), (480, 0)]


def test_random_melodies_are_pentatonic_in_range_and_reproducible() -> None:
    for program in FLUTE_PROGRAMS:
        melody = random_melody(np.random.default_rng(7), program=program, duration=12.0)
        again = random_melody(np.random.default_rng(7), program=program, duration=12.0)
        assert melody == again
        _, low, high = FLUTE_PROGRAMS[program]
        pitches = {n.pitch for n in melody.notes}
        assert low <= min(pitches) and max(pitches) <= high
        assert len({p % 12 for p in pitches}) <= 5
        classes = sorted({p % 12 for p in pitches})
        assert any({(c - root) % 12 for c in classes} <= set(PENTATONIC) for root in range(12))
        assert 12.0 <= melody.duration_seconds < 40.0
        assert any(abs(c) > 0 for _, c in melody.bends)
    assert random_melody(np.random.default_rng(1)) != random_melody(np.random.default_rng(2))
    with pytest.raises(InputError):
        random_melody(np.random.default_rng(0), program=0)


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not DEFAULT_SOUNDFONT.is_file(),
                    reason="needs fluidsynth and fluid-soundfont-gm")
def test_render_with_fluidsynth(tmp_path: Path) -> None:
    melody = Melody(program=73, tempo_bpm=120.0, notes=(Note(0.0, 1.0, 72, 100),))
    wav = render_midi(write_midi(tmp_path / "t.mid", melody), tmp_path / "t.wav")
    data, rate = sf.read(wav)
    assert rate == 16000 and data.shape[0] >= 8000 and np.abs(data).max() > 0.01
