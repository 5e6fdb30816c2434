"""Session bags against an independent implementation of rosbag2's formats, the `rosbags` library:
rosbags reads every bag the session recorder writes (every topic, type, count and byte, each message
decoded from the bag's own definitions), and `yan-dog teach --from-bag` takes a bag folder rosbags'
Writer made (as `ros2 bag record -s mcap` makes one) and rebuilds the same demonstrations from it."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from rosbags.interfaces import MessageDefinitionFormat
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from std_msgs.msg import String

from tests.test_bag import (
    NS,
    audio_msg,
    float_msg,
    image_msg,
    imu_msg,
    joint_msg,
    record_sim_demo,
)
from yan_dog import bag
from yan_dog.streams import ObsSpec

SESSION_TICKS = ((5, 10), (3, 4))  # per session: ticks before its demo_start (pre-roll), ticks of the demo


def _tick_messages(k: int, rng, demo: bool) -> list[tuple[str, str, object]]:
    """What the recorder gets in one 50 Hz tick: every stream (the camera every 5th tick), the command,
    and the teach action during a demonstration."""
    t = k * 0.02
    out = [(bag.IMU_TOPIC, "sensor_msgs/msg/Imu", imu_msg(rng.normal(size=10), t)),
           (bag.JOINT_STATES_TOPIC, "sensor_msgs/msg/JointState",
            joint_msg(rng.normal(size=(3, 12)).astype(np.float32), t, rng.permutation(12))),
           (bag.AUDIO_TOPIC, "std_msgs/msg/Int16MultiArray",
            audio_msg(rng.integers(-3000, 3000, 320, np.int16))),
           (bag.JOINT_COMMANDS_TOPIC, "std_msgs/msg/Float64MultiArray", float_msg(rng.normal(size=12)))]
    if k % 5 == 0:
        frame = rng.integers(0, 256, (12, 16, 3), np.uint8)
        out.append((bag.CAMERA_TOPIC, "sensor_msgs/msg/Image", image_msg(frame, t)))
    if demo:
        out.append((bag.TEACH_ACTION_TOPIC, bag.TEACH_ACTION_TYPE, float_msg(rng.normal(size=15))))
    return out


def test_every_session_bag_reads_back_in_rosbags(tmp_path):
    """Two teach sessions through `SessionBags` (the session_recorder's logic), as real CDR bytes: each
    bag holds its pre-roll, the demonstration and its events; rosbags lists the same topics, types and
    counts, yields the same bytes at the same log times, and decodes every message with types built from
    the bag's own message definitions (no type store of its own)."""
    rng = np.random.default_rng(0)
    recorder = bag.SessionBags(tmp_path, preroll_s=1000.0, session_idle_s=1.0, compression="zstd")
    expected: list[list[tuple[str, str, int, bytes]]] = []
    k, now_s = 0, 0.0

    def send(topic: str, type_name: str, msg) -> None:
        data = serialize_message(msg)
        log_ns = NS + k * 20_000_000 + len(expected[-1])  # distinct, increasing
        recorder.write(topic, type_name, data, log_ns, now_s)
        expected[-1].append((topic, type_name, log_ns, data))

    for preroll, demo in SESSION_TICKS:
        expected.append([])
        for _ in range(preroll):
            for message in _tick_messages(k, rng, demo=False):
                send(*message)
            k += 1
        send(bag.TEACH_EVENTS_TOPIC, bag.TEACH_EVENTS_TYPE, String(data=bag.teach_event("demo_start", "sit")))
        for _ in range(demo):
            for message in _tick_messages(k, rng, demo=True):
                send(*message)
            k += 1
        send(bag.TEACH_EVENTS_TOPIC, bag.TEACH_EVENTS_TYPE,
             String(data=bag.teach_event("demo_stop", "sit", success=True)))
        now_s += 10.0
        assert recorder.poll(now_s) is not None  # idle: the session's bag is closed
    assert len(recorder.finished) == len(SESSION_TICKS)

    for path, sent in zip(recorder.finished, expected, strict=True):
        counts = Counter((topic, type_name) for topic, type_name, _, _ in sent)
        with Reader(path) as reader:  # a lone .mcap file: no metadata.yaml needed
            assert reader.message_count == len(sent) == bag.bag_message_count(path)
            assert {(c.topic, c.msgtype): c.msgcount for c in reader.connections} == counts
            assert reader.start_time == sent[0][2] and reader.end_time == sent[-1][2] + 1
            types = get_typestore(Stores.EMPTY)
            for c in reader.connections:
                assert c.msgdef.format == MessageDefinitionFormat.MSG and c.ext.serialization_format == "cdr"
                types.register(get_types_from_msg(c.msgdef.data, c.msgtype))  # our complete definitions
            read = [(c.topic, c.msgtype, t, bytes(raw)) for c, t, raw in reader.messages()]
            assert read == sent
            decoded = [types.deserialize_cdr(raw, type_name) for _, type_name, _, raw in read]
        by_topic = [(topic, m) for (topic, *_), m in zip(read, decoded, strict=True)]
        image = next(m for topic, m in by_topic if topic == bag.CAMERA_TOPIC)
        assert (image.height, image.width, image.encoding) == (12, 16, "rgb8")
        events = [bag.parse_teach_event(m.data) for topic, m in by_topic if topic == bag.TEACH_EVENTS_TOPIC]
        assert [e["event"] for e in events] == ["demo_start", "demo_stop"]


def rewrite_with_rosbags(source, folder) -> None:
    """Copy a bag with rosbags alone, as `ros2 bag record -s mcap` would have recorded it: rosbags'
    reader, its Jazzy type store to decode and re-encode every message, and its Writer (a bag folder:
    metadata.yaml + one MCAP file)."""
    store = get_typestore(Stores.ROS2_JAZZY)
    with Reader(source) as reader, Writer(folder, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        out = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=store) for c in reader.connections}
        for c, t_ns, raw in reader.messages():
            msg = store.deserialize_cdr(raw, c.msgtype)
            writer.write(out[c.id], t_ns, store.serialize_cdr(msg, c.msgtype))


def test_teach_from_a_bag_folder_written_by_rosbags(tmp_path, capsys):
    from yan_dog.cli import main
    from yan_policy.data.library import SkillLibrary
    from yan_policy.policies.registry import load_policy

    ours, folder = tmp_path / "session.mcap", tmp_path / "recorded"
    record_sim_demo(ours)
    rewrite_with_rosbags(ours, folder)
    assert (folder / bag.ROSBAG2_METADATA).is_file()
    (file,) = bag.bag_files(folder)
    assert file.parent == folder and file.suffix == ".mcap"
    assert bag.bag_topics(folder) == bag.bag_topics(ours)
    assert bag.bag_message_count(folder) == bag.bag_message_count(ours)

    spec = ObsSpec(image_size=96)
    (theirs,), (mine,) = bag.episodes_from_bag(folder, spec=spec), bag.episodes_from_bag(ours, spec=spec)
    assert (theirs.skill, theirs.cue, theirs.seed, theirs.source, len(theirs)) == (
        mine.skill, mine.cue, mine.seed, mine.source, len(mine))
    for field in ("action", "camera", "audio", "joints", "imu", "stamps_s", "label_mask"):
        np.testing.assert_array_equal(getattr(theirs, field), getattr(mine, field), err_msg=field)
    assert theirs.extra == mine.extra

    library = tmp_path / "library"
    args = ["--library", str(library), "--policy", "mlp", "--learn-steps", "2", "--learn-seconds", "30"]
    assert main(["teach", "--from-bag", str(folder), *args]) == 0
    assert f"1 demonstrations of sit in {folder.name}" in capsys.readouterr().out
    lib = SkillLibrary(library)
    assert lib.load(load_policy) is not None and list(lib.skills) == ["sit"]
    (demo,) = lib.demos("sit")
    assert demo.source == "bag" and len(demo) == len(mine)


def test_bag_folders_of_other_storage_are_refused_with_the_reason(tmp_path):
    with Writer(tmp_path / "sqlite", version=9) as writer:  # rosbags' default: rosbag2's sqlite3 storage
        writer.add_connection("/chatter", "std_msgs/msg/String", typestore=get_typestore(Stores.ROS2_JAZZY))
    with pytest.raises(ValueError, match="'sqlite3' bag; only MCAP"):
        bag.bag_files(tmp_path / "sqlite")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no MCAP file"):
        bag.bag_files(tmp_path / "empty")
    from yan_dog.cli import main

    with pytest.raises(SystemExit, match="only MCAP bags"):
        main(["teach", "--from-bag", str(tmp_path / "sqlite"), "--library", str(tmp_path / "lib")])
