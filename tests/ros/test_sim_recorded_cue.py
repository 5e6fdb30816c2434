"""sim_node's recorded cues: a `cue` parameter naming a WAV file (the browser panel's recording) is registered
under the file's name and played; a missing file or a built-in's name is refused."""

import io
import wave

import numpy as np
import pytest
from yan_dog_ros.sim_node import register_recorded_cue

from sim.cues import cue_duration_s, get_cue, unregister_cue


def write_wav(path, seconds, rate=48000):
    pcm = (0.3 * np.sin(2 * np.pi * 800 * np.arange(int(seconds * rate)) / rate) * 32767).astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    path.write_bytes(buf.getvalue())
    return path


def test_a_recorded_cue_file_is_registered_under_its_name_and_replaced_by_a_newer_take(tmp_path):
    try:
        assert register_recorded_cue(str(write_wav(tmp_path / "head_tilt_cue.wav", 0.5))) == "head_tilt_cue"
        assert cue_duration_s("head_tilt_cue") == pytest.approx(0.5, abs=1e-3)  # resampled to 16 kHz
        register_recorded_cue(str(write_wav(tmp_path / "head_tilt_cue.wav", 0.8)))  # recorded again
        assert cue_duration_s("head_tilt_cue") == pytest.approx(0.8, abs=1e-3)
        assert np.abs(get_cue("head_tilt_cue")).max() > 0
    finally:
        unregister_cue("head_tilt_cue")
    with pytest.raises(ValueError, match="does not exist"):
        register_recorded_cue(str(tmp_path / "nope.wav"))
    with pytest.raises(ValueError, match="built-in"):
        register_recorded_cue(str(write_wav(tmp_path / "clap.wav", 0.3)))
