"""What the robot keeps: demonstration episodes, the skill library and atomic checkpoints."""

from yan_policy.data.checkpoint import load_state, save_state
from yan_policy.data.episode import Episode
from yan_policy.data.library import SkillLibrary

__all__ = ["Episode", "SkillLibrary", "load_state", "save_state"]
