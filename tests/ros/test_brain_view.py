"""`yan_brain`'s `view` parameter: the node streams its control ticks through yan_dog.live_view (read back
with Rerun's own reader), and `yan-dog up ... view:=` hands the value to the brain."""

from __future__ import annotations

import numpy as np
import rclpy
from rerun.chunk import RrdReader
from yan_dog_ros import runner
from yan_dog_ros.brain_node import BrainNode

from yan_dog import live_view as lv
from yan_dog.streams import JOINT_NAMES, ObsMatrix, matrices_from_obs

TICKS = 8
# small, not learning, trying at once: the policy steps every tick
BRAIN_ARGS = ["--ros-args", "-p", "d_model:=32", "-p", "n_layers:=1", "-p", "learning:=false",
              "-p", "learner_process:=false", "-p", "trying:=true", "-p", "control_rt_priority:=0",
              "-p", "phase_lock:=false", "-p", "subscribe_obs:=false",
              "-p", "tick_trigger:=timer"]  # the test calls on_tick itself


def test_the_brain_streams_its_ticks_to_the_view(tmp_path):
    path = tmp_path / "brain.rrd"
    ctx = rclpy.Context()
    rclpy.init(context=ctx, args=[*BRAIN_ARGS, "-p", f"view:={path}"])
    brain = None
    rng = np.random.default_rng(0)
    try:
        brain = BrainNode(context=ctx)
        assert brain.view is not None and brain.view.sink == lv.Sink("file", str(path))
        brain.view.blocking = True  # the test keeps every tick; a brain drops what the view cannot take
        for _ in range(TICKS):
            now_s = brain.get_clock().now().nanoseconds / 1e9
            obs = {"camera": rng.integers(0, 256, (brain.core.spec.image_size,) * 2 + (3,), dtype=np.uint8),
                   "audio": rng.integers(-300, 300, brain.core.spec.samples_per_tick).astype(np.int16),
                   "joints": np.stack([np.array([0.0, 0.9, -1.8] * 4), np.zeros(12), np.zeros(12)]),
                   "imu": np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 9.81])}
            for stream, matrix in matrices_from_obs(obs, brain.core.spec).items():
                brain.on_obs(ObsMatrix(stream, now_s, matrix))
            brain.on_tick()
        policy_ticks = brain.core.counts["policy_ticks"]
    finally:
        if brain is not None:
            brain.close()  # closes the view: the file gets its footer
            brain.destroy_node()
        rclpy.try_shutdown(context=ctx)
    assert policy_ticks == TICKS
    counts: dict[str, int] = {}
    for chunk in RrdReader(path).stream().to_chunks():
        entity = chunk.entity_path.lstrip("/")
        if not chunk.is_static:
            counts[entity] = counts.get(entity, 0) + chunk.num_rows
    assert counts == {lv.HEAD_CAMERA: TICKS, lv.AUDIO_LEVEL: TICKS, lv.SKILL: 1,
                      f"{lv.CUE_BELIEF}/no_cue": TICKS,  # no cue taught yet: only class 0 is named
                      **{f"{lv.JOINTS}/{name}": TICKS for name in JOINT_NAMES}}


def test_up_passes_view_to_the_brain_only():
    for composed in ("true", "false"):
        commands = runner.commands("sim", {"view": "web", "composed": composed})
        with_view = [c for c in commands if "view:=web" in c]
        assert len(with_view) == 1 and with_view[0][0].endswith(("brain_composed", "yan_brain"))
    assert not any("view:=" in arg for c in runner.commands("sim") for arg in c)  # '' keeps the YAML's (off)
