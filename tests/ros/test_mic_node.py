"""`mic_node` against a real audio device this machine provides in software.

A private PulseAudio daemon (its own runtime folder and socket, a null sink) is started by the test; a
tone played into the sink with `paplay` is captured from the sink's monitor by `mic_node` through PortAudio
(ALSA's `pulse` plugin, from libasound2-plugins) and must come out on /audio/pcm as sim_node's stream does:
320-sample int16 chunks at 50 Hz, 16 kHz mono, the tone's frequency and level intact after resampling
from the device's 48 kHz. Also: no input device at all, and a device name that is not there, each give one
error line listing the devices and exit status 2. `make install` installs what this needs (pulseaudio,
pulseaudio-utils, libasound2-plugins, libportaudio2).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from std_msgs.msg import Int16MultiArray
from yan_dog_ros import msgs
from yan_dog_ros.mic_node import EXIT_NO_DEVICE

from tests.ros.sim_graph import VENV_BIN, ros_node, spawn, spin_for, spin_until

SINK = "yan_test_sink"
DEVICE_RATE_HZ = 48000  # the sink's and the node's capture rate: the node resamples to 16 kHz
OUT_RATE_HZ, CHUNK = 16000, 320
TONE_HZ, TONE_S, TONE_AMPLITUDE = 997.0, 1.0, 0.5
STARTUP_TIMEOUT_S = 20.0  # node process start + DDS discovery on a busy 2-core machine
EXIT_TIMEOUT_S = 20.0
MEASURE_S = 2.0
RATE_TOLERANCE = (0.7, 1.3)  # achieved / nominal chunk rate
RETRY_S = 3.0  # the node's start_timeout_s in the restart test: above a fresh null sink's 2 s first block
PULSE_TOOLS = ("pulseaudio", "pactl", "paplay")
PULSE_CONFIG = """\
load-module module-native-protocol-unix auth-anonymous=1 socket={socket}
load-module module-null-sink sink_name={sink} rate={rate} channels=1
set-default-sink {sink}
set-default-source {sink}.monitor
"""


@dataclass(frozen=True)
class Pulse:
    server: str  # PULSE_SERVER of the private daemon
    env: dict  # environment for its clients (pactl, paplay)
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def pulse_daemon(home: Path):
    """A private PulseAudio daemon with a null sink, its socket and config in `home`; stopped at the end.
    As root it runs in user mode (`-n` + our own config; it warns that it is not meant for root, and
    works; `--system` would need the pulse user and a system bus)."""
    missing = [tool for tool in PULSE_TOOLS if shutil.which(tool) is None]
    assert not missing, f"{missing} not installed: `make install` installs pulseaudio and pulseaudio-utils"
    socket = home / "native"
    config = home / "test.pa"
    config.write_text(PULSE_CONFIG.format(socket=socket, sink=SINK, rate=DEVICE_RATE_HZ))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_RUNTIME_DIR": str(home),
           "PULSE_SERVER": f"unix:{socket}"}  # fmt: skip
    log_path = home / "pulseaudio.log"
    with log_path.open("a") as log:
        daemon = subprocess.Popen(
            ["pulseaudio", "-n", "-F", str(config), "--daemonize=no", "--exit-idle-time=-1",
             "--use-pid-file=no", "--disable-shm=yes", "--log-target=stderr"],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 10.0
        while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
            assert daemon.poll() is None and time.monotonic() < deadline, (
                f"pulseaudio did not start:\n{log_path.read_text()}"
            )
            time.sleep(0.1)
        yield Pulse(env["PULSE_SERVER"], env, daemon)
    finally:
        Pulse(env["PULSE_SERVER"], env, daemon).stop()


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    with pulse_daemon(tmp_path_factory.mktemp("pulse")) as daemon:
        yield daemon


def write_tone(path: Path) -> Path:
    t = np.arange(int(DEVICE_RATE_HZ * TONE_S)) / DEVICE_RATE_HZ  # (n,)
    pcm = np.round(TONE_AMPLITUDE * 32767 * np.sin(2 * np.pi * TONE_HZ * t)).astype("<i2")  # (n,)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(DEVICE_RATE_HZ)
        w.writeframes(pcm.tobytes())
    return path


def test_mic_node_captures_a_tone_from_a_pulseaudio_null_sink(pulse, monkeypatch, tmp_path):
    monkeypatch.setenv("PULSE_SERVER", pulse.server)
    monkeypatch.setenv("PULSE_SOURCE", f"{SINK}.monitor")
    wav = write_tone(tmp_path / "tone.wav")
    with (
        spawn("mic_node", "-p", "device:=pulse", "-p", f"sample_rate_hz:={DEVICE_RATE_HZ}",
              params_file="mic_node.yaml") as mic,
        ros_node("probe") as (node, ex),
    ):  # fmt: skip
        got: list[np.ndarray] = []
        node.create_subscription(
            Int16MultiArray, msgs.AUDIO_TOPIC, lambda m: got.append(msgs.audio_samples_from_msg(m)),
            msgs.AUDIO_QOS,
        )  # fmt: skip
        assert spin_until(ex, lambda: len(got) >= 5, STARTUP_TIMEOUT_S), f"no /audio/pcm\n{mic.log()}"
        got.clear()
        spin_for(ex, MEASURE_S)
        rate = len(got) / MEASURE_S
        lo, hi = RATE_TOLERANCE
        assert lo * 50 <= rate <= hi * 50, f"{rate:.1f} chunks/s, expected 50\n{mic.log()}"
        assert np.abs(np.concatenate(got)).max() == 0  # nothing plays yet: the monitor is silent

        got.clear()
        player = subprocess.Popen(["paplay", f"--device={SINK}", str(wav)], env=pulse.env)
        assert spin_until(ex, lambda: player.poll() is not None, 10.0), "paplay did not finish"
        assert player.returncode == 0
        spin_for(ex, 0.5)  # the tail of the tone through the sink's latency
        assert mic.alive(), mic.log()

    assert {c.shape for c in got} == {(CHUNK,)} and {c.dtype for c in got} == {np.dtype(np.int16)}
    audio = np.concatenate(got).astype(np.float64) / 32767  # (n,)
    loud = np.flatnonzero(np.abs(audio) > TONE_AMPLITUDE / 4)
    assert loud.size, "the tone never reached /audio/pcm"
    tone = audio[loud[0]:loud[-1] + 1]
    # duration: one second of tone at the device's 48 kHz is one second of samples at 16 kHz
    assert abs(tone.size - TONE_S * OUT_RATE_HZ) <= 0.02 * OUT_RATE_HZ, f"{tone.size} samples"
    spectrum = np.abs(np.fft.rfft(tone * np.hanning(tone.size)))
    peak_hz = np.fft.rfftfreq(tone.size, 1.0 / OUT_RATE_HZ)[spectrum.argmax()]
    assert abs(peak_hz - TONE_HZ) <= 3.0, f"peak at {peak_hz:.1f} Hz"
    level = np.sqrt(np.mean(np.square(tone))) * np.sqrt(2)
    assert level == pytest.approx(TONE_AMPLITUDE, rel=0.05)
    harmonics = spectrum.copy()
    k = spectrum.argmax()
    harmonics[max(k - 20, 0):k + 21] = 0
    assert harmonics.max() < 1e-3 * spectrum[k]  # a clean tone: no aliases, clicks or dropouts


def run_until_exit(*ros_args: str) -> tuple[int, str]:
    """Run mic_node to its exit; (exit status, its output)."""
    proc = subprocess.run(
        [str(VENV_BIN / "mic_node"), "--ros-args", *ros_args], capture_output=True, text=True,
        timeout=EXIT_TIMEOUT_S,
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


def test_a_missing_device_name_exits_with_the_list_of_devices(pulse, monkeypatch):
    monkeypatch.setenv("PULSE_SERVER", pulse.server)
    status, out = run_until_exit("-p", "device:=no_such_mic")
    assert status == EXIT_NO_DEVICE, out
    (line,) = [line for line in out.splitlines() if "ERROR" in line]
    assert "'no_such_mic' not found; input devices:" in line and "'pulse'" in line
    assert "Traceback" not in out


def test_no_input_device_at_all_exits_with_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'no_server'}")  # no sound server to reach
    probe = subprocess.run(
        [str(VENV_BIN / "python"), "-c", "import sounddevice as sd; print(len(sd.query_devices()))"],
        capture_output=True, text=True, timeout=EXIT_TIMEOUT_S,
    )  # fmt: skip
    if probe.stdout.strip() != "0":  # a machine with a sound card of its own (CI and this VM have none)
        pytest.skip(f"PortAudio lists devices without a sound server here: {probe.stdout.strip()}")
    status, out = run_until_exit()
    assert status == EXIT_NO_DEVICE, out
    (line,) = [line for line in out.splitlines() if "ERROR" in line]
    assert "no audio input device found" in line
    assert "Traceback" not in out


def test_mic_node_survives_the_sound_server_going_away(monkeypatch, tmp_path):
    """The server dies mid-stream: the node counts a stall, keeps running and retries the device, and the
    stream comes back once a server is there again."""
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'native'}")
    monkeypatch.setenv("PULSE_SOURCE", f"{SINK}.monitor")
    with (
        pulse_daemon(tmp_path) as first,
        spawn("mic_node", "-p", "device:=pulse", "-p", f"start_timeout_s:={RETRY_S}",
              "-p", "stats_log_period_s:=0.5", params_file="mic_node.yaml") as mic,
        ros_node("probe") as (node, ex),
    ):  # fmt: skip
        got: list[float] = []
        node.create_subscription(
            Int16MultiArray, msgs.AUDIO_TOPIC, lambda m: got.append(time.monotonic()), msgs.AUDIO_QOS
        )
        assert spin_until(ex, lambda: len(got) >= 5, STARTUP_TIMEOUT_S), f"no /audio/pcm\n{mic.log()}"
        first.stop()
        assert spin_until(ex, lambda: "reopening the microphone failed" in mic.log(), 10.0), mic.log()
        assert spin_until(ex, lambda: "1 stalls" in mic.log(), 2.0), mic.log()  # the throttled stats line
        assert mic.alive(), mic.log()
        with pulse_daemon(tmp_path):
            got.clear()
            assert spin_until(ex, lambda: len(got) >= 25, STARTUP_TIMEOUT_S), f"no audio again\n{mic.log()}"
        assert "Traceback" not in mic.log()
