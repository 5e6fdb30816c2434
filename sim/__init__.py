"""PyBullet + Gymnasium simulation of the Unitree A1 robot dog (no ROS).

Importing `sim` registers the `YanDog-v1` environment with Gymnasium (v0, its checks before issue 30,
is no longer registered: no stored result needs it; see the env's Version History) and the delayed
command `sit_on_go` (`sim.memory_task`). Cues the simulated microphone can play are added with
`sim.register_cue` / `sim.register_wav_cue` (see `sim.cues`); a spoken word, said per episode by a
randomised espeak-ng voice, with `sim.register_spoken_cue` (see `sim.speech`).
"""

from gymnasium.envs.registration import register as _register

from sim import memory_task, skills
from sim.cues import cue_names, register_cue, register_wav_cue
from sim.env import YanDogEnv
from sim.speech import Voice, random_voice, register_spoken_cue, speak

ENV_ID = "YanDog-v1"
_register(id=ENV_ID, entry_point="sim.env:YanDogEnv")
memory_task.register_builtin()

__all__ = [
    "ENV_ID",
    "Voice",
    "YanDogEnv",
    "cue_names",
    "random_voice",
    "register_cue",
    "register_spoken_cue",
    "register_wav_cue",
    "skills",
    "speak",
]
