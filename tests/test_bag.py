"""Session bags (yan_dog.bag): rosbag2-compatible MCAP written from real CDR bytes, read back equal;
damage is reported, never silent; a recorded demonstration comes back as the episode the brain saw."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from mcap.reader import make_reader
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image, Imu, JointState
from std_msgs.msg import Float64MultiArray, Int16MultiArray, MultiArrayDimension, String

import sim
from yan_dog import bag
from yan_dog.streams import JOINT_NAMES, ObsSpec

NS = 1_000_000_000
BAG_EPOCH_S = 1000.0  # recorder clock at sim time 0 (s): log times are not sim times


def _stamp(msg, t_s: float) -> None:
    ns = int(round(t_s * NS))
    msg.header.stamp.sec, msg.header.stamp.nanosec = ns // NS, ns % NS


def image_msg(frame: np.ndarray, t_s: float) -> Image:
    h, w, _ = frame.shape
    msg = Image(height=h, width=w, encoding="rgb8", step=w * 3, data=frame.tobytes())
    msg.header.frame_id = "camera"
    _stamp(msg, t_s)
    return msg


def joint_msg(joints: np.ndarray, t_s: float, order: np.ndarray) -> JointState:
    names = [JOINT_NAMES[i] for i in order]  # a driver's own joint order
    msg = JointState(
        name=names,
        position=joints[0, order].astype(float).tolist(),
        velocity=joints[1, order].astype(float).tolist(),
        effort=joints[2, order].astype(float).tolist(),
    )
    _stamp(msg, t_s)
    return msg


def imu_msg(v: np.ndarray, t_s: float) -> Imu:
    msg = Imu()
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = (float(x) for x in v[:4])
    msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z = (float(x) for x in v[4:7])
    a = msg.linear_acceleration
    a.x, a.y, a.z = (float(x) for x in v[7:10])
    _stamp(msg, t_s)
    return msg


def audio_msg(samples: np.ndarray) -> Int16MultiArray:
    msg = Int16MultiArray(data=samples.tolist())
    msg.layout.dim = [MultiArrayDimension(label="samples", size=samples.size, stride=samples.size)]
    return msg


def float_msg(values) -> Float64MultiArray:
    return Float64MultiArray(data=[float(v) for v in values])


def ns(t_s: float) -> int:
    return int(round((BAG_EPOCH_S + t_s) * NS))


def test_message_definition_is_complete_ros2msg():
    text = bag.message_definition("sensor_msgs/Image")
    assert text.startswith("# This message contains an uncompressed image")
    sep = "=" * 80
    assert f"{sep}\nMSG: std_msgs/msg/Header\n" in text
    assert f"{sep}\nMSG: builtin_interfaces/msg/Time\n" in text
    assert text.count("MSG: ") == 2  # each dependency once
    multi = bag.message_definition("std_msgs/msg/Int16MultiArray")
    assert "MSG: std_msgs/msg/MultiArrayLayout" in multi and "MSG: std_msgs/msg/MultiArrayDimension" in multi
    with pytest.raises(ValueError, match="pkg/msg/Type"):
        bag.message_definition("Image")
    with pytest.raises(FileNotFoundError, match="no_such_msgs"):
        bag.message_definition("no_such_msgs/msg/Thing")


def _sample_messages(n: int):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        t = i * 0.02
        frame = rng.integers(0, 256, (8, 6, 3), np.uint8)
        out += [
            ("/camera/image_raw", "sensor_msgs/msg/Image", image_msg(frame, t)),
            ("/joint_states", "sensor_msgs/msg/JointState",
             joint_msg(rng.normal(size=(3, 12)).astype(np.float32), t, np.arange(12))),
            ("/audio/pcm", "std_msgs/msg/Int16MultiArray",
             audio_msg(rng.integers(-3000, 3000, 320, np.int16))),
            ("/joint_commands", "std_msgs/msg/Float64MultiArray", float_msg(rng.normal(size=12))),
            ("/teach/events", "std_msgs/msg/String",
             String(data=bag.teach_event("demo_start", "sit", seed=i))),
        ]  # fmt: skip
    return out


def _equal(decoded, original) -> bool:
    """A decoded (mcap_ros2) message equals an rclpy one, field by field."""
    for name in original.get_fields_and_field_types():
        a, b = getattr(decoded, name), getattr(original, name)
        if hasattr(b, "get_fields_and_field_types"):
            if not _equal(a, b):
                return False
        elif isinstance(b, list) and b and hasattr(b[0], "get_fields_and_field_types"):
            if len(a) != len(b) or not all(_equal(x, y) for x, y in zip(a, b, strict=True)):
                return False
        else:
            # uint8[] fields decode as bytes
            a = np.frombuffer(a, np.uint8) if isinstance(a, bytes) else np.asarray(a)
            b = np.frombuffer(b, np.uint8) if isinstance(b, bytes) else np.asarray(b)
            if not np.array_equal(a, b):
                return False
    return True


def test_round_trip_of_real_cdr_messages(tmp_path):
    messages = _sample_messages(30)
    with bag.BagWriter(tmp_path / "session", chunk_bytes=4096) as writer:
        assert writer.part_path.exists() and not writer.path.exists()  # grows as .part until closed
        for i, (topic, type_name, msg) in enumerate(messages):
            writer.write(topic, type_name, serialize_message(msg), ns(i * 0.004))
    path = tmp_path / "session.mcap"
    assert path.is_file() and not (tmp_path / "session.mcap.part").exists()

    with open(path, "rb") as f:  # a standard MCAP reader sees the ros2 profile and full schemas
        reader = make_reader(f)
        assert reader.get_header().profile == "ros2"
        summary = reader.get_summary()
        assert summary.statistics.message_count == len(messages)
        assert {s.encoding for s in summary.schemas.values()} == {"ros2msg"}
        assert {c.message_encoding for c in summary.channels.values()} == {"cdr"}
        image_schema = next(s for s in summary.schemas.values() if s.name == "sensor_msgs/msg/Image")
        assert b"MSG: std_msgs/msg/Header" in image_schema.data
    assert bag.bag_message_count(path) == len(messages)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an intact bag reads without a damage warning
        read = list(bag.read_bag(path))
    assert len(read) == len(messages)
    for i, ((topic, t_ns, decoded), (topic0, _, original)) in enumerate(zip(read, messages, strict=True)):
        assert topic == topic0 and t_ns == ns(i * 0.004)
        assert _equal(decoded, original), topic
    assert bag.bag_topics(path)["/joint_states"] == "sensor_msgs/msg/JointState"


def test_message_like_objects_are_encoded_from_the_schema(tmp_path):
    with bag.BagWriter(tmp_path / "objects.mcap", compression="none") as writer:
        writer.write("/teach/action", "std_msgs/msg/Float64MultiArray", float_msg([1.5, -2.0]), ns(0))
        event = {"data": bag.teach_event("demo_stop", "sit")}  # a dict works as a message-like object
        writer.write("/teach/events", "std_msgs/msg/String", event, ns(1))
        with pytest.raises(ValueError, match="recorded as std_msgs/msg/String"):
            writer.write("/teach/events", "std_msgs/msg/Float64MultiArray", float_msg([0.0]), ns(2))
    (_, _, action), (_, _, event) = bag.read_bag(tmp_path / "objects.mcap")
    assert list(action.data) == [1.5, -2.0]
    assert bag.parse_teach_event(event.data) == {"event": "demo_stop", "skill": "sit"}


@pytest.mark.parametrize("keep", [0.4, 0.75, 0.97])
def test_truncated_bag_is_read_up_to_the_damage_and_reported(tmp_path, keep):
    messages = _sample_messages(40)
    path = tmp_path / "cut.mcap"
    with bag.BagWriter(path, chunk_bytes=2048) as writer:
        for i, (topic, type_name, msg) in enumerate(messages):
            writer.write(topic, type_name, serialize_message(msg), ns(i * 0.004))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])

    with pytest.warns(bag.BagDamagedWarning) as caught:
        read = list(bag.read_bag(path))
    warning = caught[0].message
    assert warning.messages_read == len(read) and "cut.mcap" in str(warning)
    assert 0 < len(read) < len(messages) or keep > 0.9  # a cut in the summary loses no message
    for (topic, _, decoded), (topic0, _, original) in zip(read, messages, strict=False):
        assert topic == topic0 and _equal(decoded, original)  # every message before the damage is intact
    with pytest.raises(bag.BagDamaged) as err:
        list(bag.read_bag(path, strict=True))
    assert err.value.messages_read == len(read)
    assert bag.bag_message_count(path) is None


def test_unclosed_part_file_of_a_crashed_session_is_readable(tmp_path):
    messages = _sample_messages(20)
    writer = bag.BagWriter(tmp_path / "crash.mcap", chunk_bytes=1024, flush_interval_s=1e-9)
    for i, (topic, type_name, msg) in enumerate(messages):
        writer.write(topic, type_name, serialize_message(msg), ns(i * 0.004))
    # the process dies here: no close(), only what reached the OS is on disk
    with pytest.warns(bag.BagDamagedWarning, match="crash.mcap.part"):
        read = list(bag.read_bag(writer.part_path))
    assert len(read) >= len(messages) - 1  # each message reached the OS with its chunk (flush every write)
    writer.close()


def test_teach_event_validation():
    assert bag.parse_teach_event(bag.teach_event("demo_start", "sit", cue="clap"))["cue"] == "clap"
    with pytest.raises(ValueError, match="must be one of"):
        bag.teach_event("start", "sit")
    with pytest.raises(ValueError, match="not JSON"):
        bag.parse_teach_event("{nope")
    with pytest.raises(ValueError, match="skill"):
        bag.parse_teach_event('{"event": "demo_stop"}')


DEMO_FIRST_TICK, DEMO_LAST_TICK, SIM_TICKS = 5, 64, 70  # a 1.2 s demonstration inside 1.4 s of streams


def record_sim_demo(path, skill: str = "sit", seed: int = 3) -> dict:
    """Drive the sim (hybrid mode, scripted teacher) and record what a session recorder would: raw
    streams stamped in sim time, log times on the recorder's clock, /teach/action after each tick's
    sensors, teach events around ticks DEMO_FIRST_TICK..DEMO_LAST_TICK. Returns the per-tick truth."""
    env = gym.make(sim.ENV_ID, skill=skill, action_mode="hybrid", camera_size=(96, 96))
    u = env.unwrapped
    obs, info = env.reset(seed=seed)
    order = np.random.default_rng(seed).permutation(12)
    truth = {k: [] for k in ("camera", "audio", "joints", "imu", "action", "time_s")}
    last_frame = None
    with bag.BagWriter(path) as w:
        for k in range(SIM_TICKS):
            t = info["time_s"]
            action = u.teacher_action()  # (15,)
            for key in ("camera", "audio", "joints", "imu"):
                truth[key].append(obs[key])
            truth["action"].append(action)
            truth["time_s"].append(t)
            imu = serialize_message(imu_msg(obs["imu"], t))
            w.write("/imu/data", "sensor_msgs/msg/Imu", imu, ns(t + 0.001))
            w.write("/joint_states", "sensor_msgs/msg/JointState",
                    serialize_message(joint_msg(obs["joints"], t, order)), ns(t + 0.0011))
            w.write("/audio/pcm", "std_msgs/msg/Int16MultiArray", serialize_message(audio_msg(obs["audio"])),
                    ns(t + 0.002))  # fmt: skip
            if last_frame is None or not np.array_equal(obs["camera"], last_frame):  # camera_hz < control_hz
                w.write("/camera/image_raw", "sensor_msgs/msg/Image",
                        serialize_message(image_msg(obs["camera"], t)), ns(t + 0.003))  # fmt: skip
                last_frame = obs["camera"]
            if k == DEMO_FIRST_TICK:
                start = bag.teach_event("demo_start", skill, source="scripted", cue=info["cue"], seed=seed)
                w.write(bag.TEACH_EVENTS_TOPIC, bag.TEACH_EVENTS_TYPE, String(data=start), ns(t + 0.004))
            if DEMO_FIRST_TICK <= k <= DEMO_LAST_TICK:
                w.write(bag.TEACH_ACTION_TOPIC, bag.TEACH_ACTION_TYPE,
                        serialize_message(float_msg(action)), ns(t + 0.005))  # fmt: skip
            if k == DEMO_LAST_TICK:
                stop = bag.teach_event("demo_stop", skill, success=None)
                w.write(bag.TEACH_EVENTS_TOPIC, bag.TEACH_EVENTS_TYPE, String(data=stop), ns(t + 0.006))
            obs, _, _, _, info = env.step(action)
    env.close()
    return {k: np.stack(v) for k, v in truth.items()}


def test_episode_round_trip_from_a_recorded_sim_demonstration(tmp_path):
    path = tmp_path / "demo.mcap"
    truth = record_sim_demo(path)
    ticks = slice(DEMO_FIRST_TICK, DEMO_LAST_TICK + 1)

    (ep,) = bag.episodes_from_bag(path, spec=ObsSpec(image_size=96))
    assert (ep.skill, ep.source, ep.action_mode, ep.seed) == ("sit", "bag", "hybrid", 3)
    assert len(ep) == DEMO_LAST_TICK - DEMO_FIRST_TICK + 1
    np.testing.assert_array_equal(ep.action, truth["action"][ticks].astype(np.float32))
    np.testing.assert_array_equal(ep.joints, truth["joints"][ticks])  # reordered back by joint name
    np.testing.assert_array_equal(ep.imu, truth["imu"][ticks])
    np.testing.assert_array_equal(ep.audio, truth["audio"][ticks])  # one block per tick, no lag
    np.testing.assert_array_equal(ep.camera, truth["camera"][ticks])  # zero-order hold at camera_hz
    expected_stamps = truth["time_s"][ticks] - truth["time_s"][DEMO_FIRST_TICK]  # (T,) s from the demo start
    np.testing.assert_allclose(ep.stamps_s, expected_stamps, atol=1e-9)
    assert ep.extra["stale_ticks"] == 0
    assert ep.extra["teacher_action_mode"] == "joint"  # sit's teacher commands joint targets

    # the policy's own camera size: frames resized as camera_preprocess resizes them
    (small,) = bag.episodes_from_bag(path, skill="sit")
    assert small.camera.shape[1:] == (ObsSpec().image_size, ObsSpec().image_size, 3)
    assert bag.episodes_from_bag(path, skill="walk_forward") == []


def test_cli_teach_from_bag_learns_the_recorded_skill_into_the_library(tmp_path, capsys):
    from yan_dog.cli import main
    from yan_policy.data.library import SkillLibrary
    from yan_policy.policies.registry import load_policy

    path = tmp_path / "session.mcap"
    record_sim_demo(path)
    library = tmp_path / "library"
    args = ["--library", str(library), "--policy", "mlp", "--learn-steps", "3", "--learn-seconds", "30"]
    assert main(["teach", "--from-bag", str(path), *args]) == 0
    assert "1 demonstrations of sit" in capsys.readouterr().out

    lib = SkillLibrary(library)
    assert lib.load(load_policy) is not None and list(lib.skills) == ["sit"]
    (demo,) = lib.demos("sit")
    assert demo.source == "bag" and len(demo) == DEMO_LAST_TICK - DEMO_FIRST_TICK + 1

    with pytest.raises(SystemExit, match="no complete demonstration of 'walk_forward'"):
        main(["teach", "--from-bag", str(path), "--skill", "walk_forward", *args])
