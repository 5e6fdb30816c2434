"""`yan_brain`'s spoken-command parameters reach its learner: `negative_prob` and `cue_audio_augment` (off
by default) and `non_command_wavs`, a folder of WAV files its non-command copies hear."""

import numpy as np
import rclpy
from yan_dog_ros.brain_node import BrainNode

from tests.test_spoken_commands import RATE_HZ, tone, write_wav

BRAIN_ARGS = ["--ros-args", "-p", "d_model:=32", "-p", "n_layers:=1", "-p", "learning:=false",
              "-p", "control_rt_priority:=0", "-p", "learner_process:=false"]


def brain_learner(args: list[str]):
    """(the learner config, the labels of the non-command sounds at RATE_HZ) of a brain started with args."""
    ctx = rclpy.Context()
    rclpy.init(context=ctx, args=BRAIN_ARGS + args)
    brain = None
    try:
        brain = BrainNode(context=ctx)
        learner = brain.core.learner
        return learner.config, [s.label for s in learner.non_command_sounds(RATE_HZ)]
    finally:
        if brain is not None:
            brain.close()
            brain.destroy_node()
        rclpy.try_shutdown(context=ctx)


def test_the_spoken_command_parameters_reach_the_brains_learner(tmp_path):
    config, labels = brain_learner([])
    assert config.negative_prob == 0.0 and not config.cue_audio_augment
    assert not any(label.startswith("wav:") for label in labels)
    write_wav(tmp_path / "tv.wav", tone())
    write_wav(tmp_path / "radio.wav", np.rint(tone() * 0.5))
    config, labels = brain_learner(["-p", "negative_prob:=0.25", "-p", "cue_audio_augment:=true",
                                    "-p", f"non_command_wavs:={tmp_path}"])
    assert config.negative_prob == 0.25 and config.cue_audio_augment
    assert labels[-2:] == ["wav:radio.wav", "wav:tv.wav"]
