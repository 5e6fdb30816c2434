"""The three preprocessing nodes as separate processes: raw messages in, 32FC1 observation matrices out,
stamped with the source stamp; bad input is dropped with a log line and the node keeps working."""

import time

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Int16MultiArray
from yan_dog_ros import msgs

from sim.robot import MOTOR_NAMES
from tests.ros.sim_graph import ros_node, spawn, spin_for, spin_until
from yan_dog import streams

STARTUP_TIMEOUT_S = 30.0  # three processes importing torch + DDS discovery on a busy 2-core machine
RECEIVE_TIMEOUT_S = 10.0
RESEND_S = 0.1  # best-effort topics: a raw message is re-sent until its matrix arrives
SPEC = streams.ObsSpec()
AUDIO_BLOCK_SAMPLES = int(np.prod(SPEC.shape("audio")))  # PCM samples per audio block (320)
AUDIO_DRAIN_S = 1.0  # after priming, time for the blocks of chunks still in flight to arrive
SOURCE_STAMP_S = 1_700_000_123.25


def _collect(node, topic):
    got = []
    node.create_subscription(Image, topic, got.append, msgs.OBS_QOS)
    return got


def _send_until(executor, publish, got, predicate, timeout_s=RECEIVE_TIMEOUT_S) -> bool:
    """Publish again every RESEND_S until a received message satisfies `predicate`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        publish()
        if spin_until(executor, lambda: any(predicate(m) for m in got), RESEND_S):
            return True
    return False


def _stamp_is(msg, t_s):
    return abs(msgs.stamp_to_seconds(msg.header.stamp) - t_s) < 1e-6


def test_preprocess_nodes_turn_raw_streams_into_stamped_obs_matrices_and_survive_bad_input():
    rng = np.random.default_rng(0)
    with spawn("camera_preprocess", params_file="camera_preprocess.yaml") as cam_proc, \
            spawn("audio_preprocess", params_file="audio_preprocess.yaml") as audio_proc, \
            spawn("joint_preprocess", params_file="joint_preprocess.yaml") as joint_proc, \
            ros_node("preprocess_probe") as (node, executor):
        pubs = msgs.sensor_publishers(node)
        pub_cam, pub_audio, pub_joints, pub_imu = (pubs[k] for k in ("camera", "audio", "joints", "imu"))
        cam_obs = _collect(node, msgs.CAMERA_OBS_TOPIC)
        audio_obs = _collect(node, msgs.AUDIO_OBS_TOPIC)
        proprio_obs = _collect(node, msgs.PROPRIO_OBS_TOPIC)
        subscribed = spin_until(executor, lambda: all(p.get_subscription_count() > 0 for p in pubs.values()),
                                STARTUP_TIMEOUT_S)
        assert subscribed, "the preprocessing nodes did not subscribe"
        assert spin_until(executor, lambda: all(node.count_publishers(t) > 0 for t in (
            msgs.CAMERA_OBS_TOPIC, msgs.AUDIO_OBS_TOPIC, msgs.PROPRIO_OBS_TOPIC)), STARTUP_TIMEOUT_S)

        # camera: a 96x96 rgb8 frame -> a (32, 96) matrix with the frame's own stamp and frame_id "camera"
        frame = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
        good = msgs.image_rgb8(frame, SOURCE_STAMP_S)
        assert _send_until(executor, lambda: pub_cam.publish(good), cam_obs,
                           lambda m: _stamp_is(m, SOURCE_STAMP_S))
        got = next(m for m in cam_obs if _stamp_is(m, SOURCE_STAMP_S))
        assert got.encoding == "32FC1" and got.header.frame_id == "camera"
        expected = streams.camera_matrix(frame, SPEC.image_size)  # (32, 96)
        np.testing.assert_array_equal(msgs.obs_matrix_from_msg(got), expected)

        # a bad frame (step too small for the width) is dropped and logged; the next good one still works
        bad = msgs.image_rgb8(frame, SOURCE_STAMP_S + 1.0)
        bad.step = 10
        for _ in range(3):
            pub_cam.publish(bad)
        later = msgs.image_rgb8(frame, SOURCE_STAMP_S + 2.0)
        assert _send_until(executor, lambda: pub_cam.publish(later), cam_obs,
                           lambda m: _stamp_is(m, SOURCE_STAMP_S + 2.0))
        assert not any(_stamp_is(m, SOURCE_STAMP_S + 1.0) for m in cam_obs)
        assert cam_proc.alive() and "dropped camera frame: camera: step 10" in cam_proc.log()

        # Prime the audio path both ways first. Audio and /obs/audio are reliable but volatile: a chunk sent
        # before the node's reader has matched our writer, or a matrix sent before its writer
        # has matched our reader, is lost, and seeing the other side in the graph does not mean that
        # match is made (the first block was lost in ~1 run in 6). Whole blocks of silence keep the
        # node's buffer aligned however many get through; once one comes back, both are matched.
        silence = np.zeros(AUDIO_BLOCK_SAMPLES, np.int16)
        assert _send_until(executor, lambda: pub_audio.publish(msgs.audio_chunk(silence)), audio_obs,
                           lambda m: True), "no audio matrix came back"
        spin_for(executor, AUDIO_DRAIN_S)  # blocks of chunks still in flight
        audio_obs.clear()

        # audio: chunks of 100 samples -> one (2, 160) matrix per 320 samples, in order
        pcm = (np.arange(700) - 350).astype(np.int16)
        for chunk in np.split(pcm, 7):
            pub_audio.publish(msgs.audio_chunk(chunk))
        assert spin_until(executor, lambda: len(audio_obs) >= 2, RECEIVE_TIMEOUT_S)
        blocks = [msgs.obs_matrix_from_msg(m) for m in audio_obs[:2]]
        assert all(b.shape == SPEC.shape("audio") for b in blocks)
        samples = np.concatenate([streams.audio_from_matrix(b) for b in blocks])  # (640,)
        np.testing.assert_array_equal(samples, pcm[:640])
        pub_audio.publish(Int16MultiArray())  # an empty chunk: dropped and logged
        assert spin_until(executor, lambda: "dropped audio chunk" in audio_proc.log(), RECEIVE_TIMEOUT_S)

        # proprio: joints in reversed name order + IMU -> one (1, 46) row in the policy's joint order
        order = list(reversed(MOTOR_NAMES))
        pos = {n: 0.01 * i for i, n in enumerate(MOTOR_NAMES)}
        position = np.array([pos[n] for n in order])
        js = msgs.joint_state(order, position, np.zeros(12), np.ones(12), SOURCE_STAMP_S)
        imu = np.array([0, 0, 0, 1, 0.1, 0.2, 0.3, 0, 0, 9.81], np.float32)

        def send_proprio():
            pub_imu.publish(msgs.imu_msg(imu, SOURCE_STAMP_S))
            pub_joints.publish(js)

        assert _send_until(executor, send_proprio, proprio_obs, lambda m: _stamp_is(m, SOURCE_STAMP_S))
        row = msgs.obs_matrix_from_msg(proprio_obs[-1])
        joints, imu_back = streams.proprio_from_matrix(row, 12)
        np.testing.assert_allclose(joints[0], [pos[n] for n in MOTOR_NAMES], atol=1e-6)
        np.testing.assert_allclose(joints[2], 1.0)
        np.testing.assert_allclose(imu_back, imu, rtol=1e-6)
        nan_js = msgs.joint_state(order, np.full(12, np.nan), np.zeros(12), np.zeros(12), SOURCE_STAMP_S)
        pub_joints.publish(nan_js)
        assert spin_until(executor, lambda: "non-finite position" in joint_proc.log(), RECEIVE_TIMEOUT_S)
        assert cam_proc.alive() and audio_proc.alive() and joint_proc.alive()


def test_a_slow_callback_is_logged_with_its_wall_and_cpu_time():
    from yan_dog_ros.preprocess_nodes import SLOW_CALLBACK_MARK, SLOW_CALLBACK_S, CameraPreprocessNode

    lines, seen = [], []

    class Logger:
        def warning(self, message, **_):
            lines.append(message)

    def busy(msg):  # CPU, not sleep: the line must show the CPU time
        seen.append(msg)
        t_end = time.thread_time() + 1.5 * SLOW_CALLBACK_S
        while time.thread_time() < t_end:
            pass

    with ros_node("camera_preprocess", make=lambda ctx: CameraPreprocessNode(context=ctx)) as (node, _):
        node.get_logger = Logger
        node.timed(lambda msg: seen.append(msg), "quick")(1)
        assert seen == [1] and lines == []
        node.timed(busy, "camera frame")(2)
    assert seen == [1, 2] and len(lines) == 1
    assert lines[0].startswith(f"{SLOW_CALLBACK_MARK} camera frame took ")
    cpu_ms = float(lines[0].split("(")[1].split(" ms of CPU")[0])
    assert cpu_ms >= 1.5 * SLOW_CALLBACK_S * 1e3
