"""PyBullet + Gymnasium simulation of the Unitree A1 robot dog (no ROS).

Importing `sim` registers the `YanDog-v0` environment with Gymnasium.
"""

from gymnasium.envs.registration import register as _register

from sim import skills
from sim.env import YanDogEnv

ENV_ID = "YanDog-v0"
_register(id=ENV_ID, entry_point="sim.env:YanDogEnv")

__all__ = ["ENV_ID", "YanDogEnv", "skills"]
