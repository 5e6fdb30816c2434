"""Learning on the robot: the online learner (thread or child process), batches and augmentation."""

from yan_policy.training.learner import LearnerConfig, OnlineLearner
from yan_policy.training.learner_process import ProcessLearner

__all__ = ["LearnerConfig", "OnlineLearner", "ProcessLearner"]
