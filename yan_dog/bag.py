"""Teach-session recordings as ROS 2 bags (MCAP), written and read without rclpy.

A session recording is one rosbag2-compatible MCAP file (profile "ros2"): each topic is a channel with
message encoding "cdr" and a schema of encoding "ros2msg" holding the complete message definition (the
type's .msg text followed by every dependency, each after a line of 80 '=' and a `MSG: pkg/msg/Type`
line, as rosbag2 writes it). `ros2 bag info/play session.mcap`, Foxglove, `mcap` and the `rosbags` library
read these files as they are (a single MCAP file needs no metadata.yaml; tests/test_bag_rosbags.py reads
every topic back with rosbags). Reading also takes a rosbag2 bag folder (`bag_files`: its metadata.yaml
and MCAP files, as `ros2 bag record -s mcap` and rosbags' Writer make them).

Writing (`BagWriter`) takes messages already serialized to CDR (what `rclpy.serialization.serialize_message`
or a `raw=True` subscription gives, so a recorder never re-encodes) or message-like objects (attributes
or dict keys named like the fields), encoded from the schema. Writes are crash-safe: the file grows as
`<name>.mcap.part`, complete chunks reach the OS at least every `flush_interval_s`, and `close()` writes
the summary, fsyncs and renames it to `<name>.mcap`. A session that crashes leaves the `.part` file,
readable up to the last complete chunk.

Reading (`read_bag`) decodes every message it can and never hides damage: a truncated or corrupted file
(or an unclosed `.part`) yields the messages before the damage, then warns (`BagDamagedWarning`) or, with
`strict=True`, raises `BagDamaged`; both carry how many messages were read.

Teach events (`TEACH_EVENTS_TOPIC`, std_msgs/msg/String holding JSON, see `teach_event`; published by
yan_brain when a demonstration starts and stops) delimit the demonstrations; `episodes_from_bag` turns
them into `yan_policy.data.episode.Episode`s through the brain's own sensor-side code (`yan_dog.streams`).
`SessionBags` is the session recorder's logic: one bag per teach session, with a pre-roll.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from mcap.reader import make_reader
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType
from mcap.writer import Writer as McapWriter
from mcap_ros2._dynamic import serialize_dynamic
from mcap_ros2.decoder import DecoderFactory

from yan_policy.data.checkpoint import fsync_dir

if TYPE_CHECKING:
    from yan_policy.data.episode import Episode, EpisodeBuilder

PROFILE = "ros2"
SCHEMA_ENCODING = "ros2msg"
MESSAGE_ENCODING = "cdr"
PART_SUFFIX = ".part"
DEFINITION_SEPARATOR = "=" * 80
DEFAULT_CHUNK_BYTES = 256 * 1024  # a crash loses at most the chunk in progress (<= this, or flush_interval_s)
DEFAULT_FLUSH_INTERVAL_S = 1.0  # s, complete chunks reach the OS at least this often
LIBRARY_ID = "yan-dog bag.py"

# --- teach events ---------------------------------------------------------------------------------------
TEACH_EVENTS_TOPIC = "/teach/events"
TEACH_EVENTS_TYPE = "std_msgs/msg/String"
TEACH_ACTION_TOPIC = "/teach/action"
TEACH_ACTION_TYPE = "std_msgs/msg/Float64MultiArray"
DEMO_START, DEMO_STOP, DEMO_ABORT, SKILL_SAVED = "demo_start", "demo_stop", "demo_abort", "skill_saved"
TEACH_EVENTS = (DEMO_START, DEMO_STOP, DEMO_ABORT, SKILL_SAVED)

_PRIMITIVES = {
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
    "int32", "uint32", "int64", "uint64", "string", "wstring",
}  # fmt: skip


class BagDamaged(RuntimeError):
    """A bag could only be read up to a damage (truncated, corrupted or never closed).

    Attributes: path, messages_read (messages decoded before the damage), reason.
    """

    def __init__(self, path: str | os.PathLike, messages_read: int, reason: str):
        self.path, self.messages_read, self.reason = Path(path), messages_read, reason
        super().__init__(f"bag {self.path} is damaged after {messages_read} messages: {reason}")


class BagDamagedWarning(UserWarning):
    """The warning form of `BagDamaged` (same attributes), issued by `read_bag(strict=False)`."""

    def __init__(self, damage: BagDamaged):
        self.path, self.messages_read, self.reason = damage.path, damage.messages_read, damage.reason
        super().__init__(str(damage))


class BagMessage(NamedTuple):
    topic: str
    log_time_ns: int
    message: Any  # decoded message: attributes named like the .msg fields


# --- message definitions --------------------------------------------------------------------------------
def normalize_type(type_name: str) -> str:
    """'sensor_msgs/Image' or 'sensor_msgs/msg/Image' -> 'sensor_msgs/msg/Image'."""
    parts = type_name.strip().split("/")
    if len(parts) == 2 and all(parts):
        return f"{parts[0]}/msg/{parts[1]}"
    if len(parts) == 3 and parts[1] == "msg" and parts[0] and parts[2]:
        return type_name.strip()
    raise ValueError(f"message type must look like 'pkg/msg/Type', got {type_name!r}")


def share_dirs() -> list[Path]:
    """Where .msg files are looked up: every AMENT_PREFIX_PATH entry, then this Python's prefix."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(sys.prefix)
    return [Path(p) / "share" for p in dict.fromkeys(prefixes)]


def _msg_file(type_name: str) -> Path:
    pkg, _, name = normalize_type(type_name).split("/")
    for share in share_dirs():
        path = share / pkg / "msg" / f"{name}.msg"
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"no definition for {type_name}: {pkg}/msg/{name}.msg is in none of {[str(s) for s in share_dirs()]}"
    )


def _field_types(text: str, pkg: str) -> list[str]:
    """Non-primitive field types of one .msg text, as 'pkg/msg/Type', in order."""
    types = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        ftype = line.split()[0]
        if re.match(r"^\w+\s*=", line[len(ftype) :].strip()):
            continue  # a constant: "uint8 NAME=1"
        base = re.sub(r"\[.*\]$", "", ftype)  # strip [], [N], [<=N]
        base = re.sub(r"<=\d+$", "", base)  # bounded string
        if base in _PRIMITIVES:
            continue
        if base == "Header":
            base = "std_msgs/Header"
        types.append(normalize_type(base if "/" in base else f"{pkg}/{base}"))
    return types


def message_definition(type_name: str) -> str:
    """The complete ros2msg definition of a type: its .msg text, then each dependency (depth-first, once)
    after a separator line and `MSG: pkg/msg/Type`, as rosbag2 stores it."""
    root = normalize_type(type_name)
    seen, order = {root}, []
    texts: dict[str, str] = {}

    def visit(name: str) -> None:
        texts[name] = _msg_file(name).read_text()
        for dep in _field_types(texts[name], name.split("/")[0]):
            if dep not in seen:
                seen.add(dep)
                order.append(dep)
                visit(dep)

    visit(root)
    parts = [texts[root].rstrip("\n")]
    for dep in order:
        parts.append(f"{DEFINITION_SEPARATOR}\nMSG: {dep}\n{texts[dep].rstrip(chr(10))}")
    return "\n".join(parts) + "\n"


# --- writing --------------------------------------------------------------------------------------------
class BagWriter:
    """Write one MCAP bag crash-safely (see the module docstring).

    Args:
        path: the final file name (".mcap" is appended if missing); it appears only on `close()`.
        chunk_bytes: uncompressed bytes per chunk (a crash loses at most the chunk in progress).
        flush_interval_s: finish the chunk in progress and hand it to the OS at least this often (s).
        compression: "zstd", "lz4" or "none" (per chunk).
        metadata: optional str -> str pairs stored in a "yan_dog" metadata record.

    Thread-safe: several subscription callbacks may write at once.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        compression: str = "zstd",
        metadata: dict[str, str] | None = None,
    ):
        path = Path(path)
        if path.suffix != ".mcap":
            path = path.with_name(path.name + ".mcap")
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be >= 1, got {chunk_bytes}")
        if flush_interval_s <= 0:
            raise ValueError(f"flush_interval_s must be > 0, got {flush_interval_s}")
        kinds = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}
        if compression not in kinds:
            raise ValueError(f"compression must be one of {sorted(kinds)}, got {compression!r}")
        self.path = path
        self.part_path = path.with_name(path.name + PART_SUFFIX)
        self.flush_interval_s = flush_interval_s
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.part_path, "wb")  # noqa: SIM115 (closed in close())
        self._writer = McapWriter(self._file, chunk_size=chunk_bytes, compression=kinds[compression])
        self._writer.start(profile=PROFILE, library=LIBRARY_ID)
        if metadata:
            self._writer.add_metadata("yan_dog", {str(k): str(v) for k, v in metadata.items()})
        self._lock = threading.Lock()
        self._schemas: dict[str, tuple[int, str]] = {}  # type -> (schema id, definition text)
        self._channels: dict[str, tuple[int, str]] = {}  # topic -> (channel id, type)
        self._encoders: dict[str, Any] = {}
        self._sequence = 0
        self._last_flush = time.monotonic()
        self.message_count = 0
        self.closed = False

    def add_topic(self, topic: str, type_name: str) -> None:
        """Register a topic's channel (done by the first `write` too); a topic keeps one type."""
        with self._lock:
            self._channel(topic, normalize_type(type_name))

    def _channel(self, topic: str, type_name: str) -> int:
        known = self._channels.get(topic)
        if known is not None:
            if known[1] != type_name:
                raise ValueError(f"topic {topic} was recorded as {known[1]}, not {type_name}")
            return known[0]
        if type_name not in self._schemas:
            text = message_definition(type_name)
            self._schemas[type_name] = (
                self._writer.register_schema(type_name, SCHEMA_ENCODING, text.encode()),
                text,
            )
        channel_id = self._writer.register_channel(topic, MESSAGE_ENCODING, self._schemas[type_name][0])
        self._channels[topic] = (channel_id, type_name)
        return channel_id

    def _encode(self, type_name: str, message: Any) -> bytes:
        encoder = self._encoders.get(type_name)
        if encoder is None:
            encoder = self._encoders[type_name] = serialize_dynamic(type_name, self._schemas[type_name][1])[
                type_name
            ]
        return encoder(message)

    def write(
        self,
        topic: str,
        type_name: str,
        message: bytes | Any,
        log_time_ns: int,
        publish_time_ns: int | None = None,
    ) -> None:
        """Append one message: CDR bytes as they are, anything else encoded from the type's schema."""
        type_name = normalize_type(type_name)
        if log_time_ns < 0:
            raise ValueError(f"log_time_ns must be >= 0, got {log_time_ns}")
        with self._lock:
            if self.closed:
                raise ValueError(f"bag {self.path} is closed")
            channel_id = self._channel(topic, type_name)
            data = bytes(message) if isinstance(message, bytes | bytearray | memoryview) else None
            if data is None:
                data = self._encode(type_name, message)
            self._writer.add_message(
                channel_id=channel_id,
                log_time=int(log_time_ns),
                publish_time=int(log_time_ns if publish_time_ns is None else publish_time_ns),
                data=data,
                sequence=self._sequence,
            )
            self._sequence += 1
            self.message_count += 1
            now = time.monotonic()
            if now - self._last_flush >= self.flush_interval_s:
                self._writer.flush()  # finish the chunk, hand it to the OS
                self._last_flush = now

    def close(self) -> Path:
        """Write the summary, fsync, and rename `<name>.mcap.part` to `<name>.mcap`; returns the path."""
        with self._lock:
            if self.closed:
                return self.path
            self.closed = True
            self._writer.finish()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self.part_path, self.path)
            fsync_dir(self.path.parent)
        return self.path

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- reading --------------------------------------------------------------------------------------------
ROSBAG2_METADATA = "metadata.yaml"  # what rosbag2 writes beside the storage files of a bag folder


def _natural_key(path: Path) -> list:
    """'bag_10.mcap' after 'bag_9.mcap' (rosbag2 numbers the files of a split bag)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def bag_files(path: str | os.PathLike) -> list[Path]:
    """The MCAP files of a bag, in recording order: the file itself (.mcap, or an unclosed .mcap.part), or
    those of a rosbag2 bag folder (`ros2 bag record -s mcap -o DIR`, rosbags' Writer) as its metadata.yaml
    lists them (without one, every *.mcap in it by name). ValueError for a folder of another storage
    (sqlite3: `ros2 bag convert` it to MCAP) or a rosbag2-compressed one; FileNotFoundError if missing."""
    path = Path(path)
    if not path.is_dir():
        if not path.is_file():
            raise FileNotFoundError(f"bag not found: {path}")
        return [path]
    meta = path / ROSBAG2_METADATA
    if meta.is_file():
        import yaml

        info = (yaml.safe_load(meta.read_text()) or {}).get("rosbag2_bagfile_information") or {}
        storage = info.get("storage_identifier", "mcap")
        if storage != "mcap":
            raise ValueError(f"{path}: a {storage!r} bag; only MCAP bags are read (`ros2 bag convert` "
                             "makes one)")
        compression = str(info.get("compression_mode") or "none").lower()
        if compression != "none":
            raise ValueError(f"{path}: rosbag2 {compression} compression is not read (record with MCAP's own "
                             "chunk compression, the default of `-s mcap`)")
        files = [path / Path(name).name for name in info.get("relative_file_paths") or []]
    else:
        files = sorted(path.glob("*.mcap"), key=_natural_key)
    missing = [str(f) for f in files if not f.is_file()]
    if missing or not files:
        fault = f"missing {missing}" if missing else "no MCAP file"
        raise FileNotFoundError(f"bag folder {path}: {fault}")
    return files


def iter_bag(path: str | os.PathLike, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """Decode the messages of a bag in file order; on damage raise `BagDamaged` after the last good one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"bag not found: {path}")
    wanted = set(topics) if topics is not None else None
    factory = DecoderFactory()
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    decoders: dict[int, Any] = {}
    count = 0
    footer_seen = False
    with open(path, "rb") as f:
        reader = StreamReader(f, validate_crcs=True, record_size_limit=max(1, path.stat().st_size))
        records = reader.records
        while True:
            try:
                record = next(records)
            except StopIteration:
                footer_seen = True
                break
            except Exception as e:  # truncated or corrupted: mcap raises several types (and struct.error)
                reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                raise BagDamaged(path, count, reason) from e
            if isinstance(record, Schema):
                schemas[record.id] = record
            elif isinstance(record, Channel):
                channels[record.id] = record
            elif isinstance(record, Message):
                channel = channels.get(record.channel_id)
                if channel is None:
                    raise BagDamaged(path, count, f"message on unknown channel {record.channel_id}")
                if wanted is not None and channel.topic not in wanted:
                    continue
                decoder = decoders.get(channel.id)
                if decoder is None:
                    decoder = factory.decoder_for(channel.message_encoding, schemas.get(channel.schema_id))
                    if decoder is None:
                        raise BagDamaged(
                            path, count, f"topic {channel.topic}: cannot decode {channel.message_encoding!r}"
                        )
                    decoders[channel.id] = decoder
                try:
                    message = decoder(record.data)
                except Exception as e:
                    raise BagDamaged(path, count, f"undecodable message on {channel.topic}: {e}") from e
                count += 1
                yield BagMessage(channel.topic, record.log_time, message)
    if not footer_seen:
        raise BagDamaged(path, count, "no footer")


def read_bag(
    path: str | os.PathLike, topics: Iterable[str] | None = None, strict: bool = False
) -> Iterator[BagMessage]:
    """Yield (topic, log_time_ns, message) for each message of a bag (a file or a rosbag2 folder:
    `bag_files`), in file (= recording) order.

    A damaged bag yields every message before the damage, then issues a `BagDamagedWarning`
    (or raises `BagDamaged` with `strict=True`) naming the file, the count read and the fault; the next
    file of a folder is read all the same. An unclosed `<name>.mcap.part` (a crashed session) reads the
    same way.
    """
    for file in bag_files(path):
        try:
            yield from iter_bag(file, topics)
        except BagDamaged as damage:
            if strict:
                raise
            warnings.warn(BagDamagedWarning(damage), stacklevel=2)


def bag_topics(path: str | os.PathLike) -> dict[str, str]:
    """topic -> message type of every channel in a bag, file or folder (reads up to any damage, silently)."""
    out: dict[str, str] = {}
    for file in bag_files(path):
        schemas: dict[int, str] = {}
        with open(file, "rb") as f:
            try:
                for record in StreamReader(f, record_size_limit=max(1, file.stat().st_size)).records:
                    if isinstance(record, Schema):
                        schemas[record.id] = record.name
                    elif isinstance(record, Channel):
                        out[record.topic] = schemas.get(record.schema_id, "")
            except Exception:  # damage is reported by read_bag; here only the channels seen matter
                pass
    return out


# --- teach events ---------------------------------------------------------------------------------------
def teach_event(event: str, skill: str, **fields: Any) -> str:
    """The JSON text of one teach event for `TEACH_EVENTS_TOPIC` (std_msgs/msg/String `data`).

    Events: "demo_start" (fields: source "scripted"|"teleop", cue, seed), "demo_stop" (success),
    "demo_abort" (the demonstration is discarded), "skill_saved" (version). Unknown fields are kept.
    """
    if event not in TEACH_EVENTS:
        raise ValueError(f"teach event must be one of {TEACH_EVENTS}, got {event!r}")
    if not skill:
        raise ValueError("teach event needs a skill name")
    return json.dumps({"event": event, "skill": skill, **fields}, sort_keys=True)


def parse_teach_event(text: str) -> dict:
    """Parse and check a teach event's JSON text; ValueError naming the fault."""
    try:
        event = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"teach event is not JSON: {e}") from e
    if not isinstance(event, dict):
        raise ValueError(f"teach event must be a JSON object, got {type(event).__name__}")
    if event.get("event") not in TEACH_EVENTS:
        raise ValueError(f"teach event 'event' must be one of {TEACH_EVENTS}, got {event.get('event')!r}")
    if not isinstance(event.get("skill"), str) or not event["skill"]:
        raise ValueError("teach event needs a non-empty 'skill'")
    return event


def bag_message_count(path: str | os.PathLike) -> int | None:
    """Messages in a complete bag, file or folder (from the summaries), or None for a damaged/unclosed one."""
    total = 0
    for file in bag_files(path):
        try:
            with open(file, "rb") as f:
                summary = make_reader(f).get_summary()
        except Exception:  # no usable summary: damaged or still being written
            return None
        if summary is None or summary.statistics is None:
            return None
        total += summary.statistics.message_count
    return total


_CDR_DECODERS: dict[str, Any] = {}


def decode_cdr(type_name: str, data: bytes) -> Any:
    """Decode one CDR-serialized message of a standard type (no rclpy); ValueError if it is malformed."""
    type_name = normalize_type(type_name)
    decoder = _CDR_DECODERS.get(type_name)
    if decoder is None:
        text = message_definition(type_name).encode()
        schema = Schema(id=0, name=type_name, encoding=SCHEMA_ENCODING, data=text)
        decoder = _CDR_DECODERS[type_name] = DecoderFactory().decoder_for(MESSAGE_ENCODING, schema)
    try:
        return decoder(data)
    except Exception as e:  # the CDR reader raises several types on short or garbled data
        raise ValueError(f"{type_name}: undecodable CDR data ({type(e).__name__}: {e})") from e


# --- one bag per teach session (the recorder's logic, ROS-free) ----------------------------------------
DEFAULT_PREROLL_S = 2.0  # s of every stream kept before a demo_start, so a replay starts with live inputs
DEFAULT_SESSION_IDLE_S = 15.0  # s after the last demo_stop without a new demo_start: the session is over


class SessionBags:
    """Splits a stream of recorded messages into one bag per teach session.

    A session opens at a `demo_start` teach event (the last `preroll_s` of every topic is written first)
    and closes `session_idle_s` after its last demo_stop/demo_abort if no demonstration started again
    (`poll`), or on `close()`. With `split_sessions=False` one bag covers everything from the first message.

    Args:
        out_dir: folder of the bags (`session_<UTC time>_<n>.mcap`).
        preroll_s: seconds of each stream written ahead of a session's first demo_start.
        session_idle_s: idle seconds (wall clock) that end a session.
        split_sessions: False = one bag for the whole run.
        writer_kwargs: passed to `BagWriter`.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        preroll_s: float = DEFAULT_PREROLL_S,
        session_idle_s: float = DEFAULT_SESSION_IDLE_S,
        split_sessions: bool = True,
        **writer_kwargs: Any,
    ):
        if preroll_s < 0:
            raise ValueError(f"preroll_s must be >= 0, got {preroll_s}")
        if session_idle_s <= 0:
            raise ValueError(f"session_idle_s must be > 0, got {session_idle_s}")
        self.out_dir = Path(os.path.expanduser(str(out_dir)))
        self.preroll_ns = int(preroll_s * 1e9)
        self.session_idle_s = session_idle_s
        self.split_sessions = split_sessions
        self.writer_kwargs = writer_kwargs
        self.writer: BagWriter | None = None
        self.finished: list[Path] = []
        self._preroll: deque[tuple[str, str, bytes, int]] = deque()
        self._in_demo = False
        self._idle_since: float | None = None
        self._lock = threading.Lock()

    def _open(self) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        name = f"session_{stamp}_{len(self.finished) + 1:03d}"
        self.writer = BagWriter(self.out_dir / name, **self.writer_kwargs)
        for record in self._preroll:
            self.writer.write(*record)
        self._preroll.clear()

    def write(self, topic: str, type_name: str, data: bytes, log_time_ns: int, now_s: float) -> None:
        """Record one serialized message (log time on the recorder's ROS clock, `now_s` wall clock)."""
        with self._lock:
            if self.writer is None and not self.split_sessions:
                self._open()
            fault = None
            if topic == TEACH_EVENTS_TOPIC:
                try:
                    self._event(decode_cdr(type_name, data).data, now_s)
                except ValueError as e:
                    fault = e  # recorded all the same: the bag keeps what was sent
            if self.writer is not None:
                self.writer.write(topic, type_name, data, log_time_ns)
            else:
                self._preroll.append((topic, type_name, data, log_time_ns))
                while self._preroll and log_time_ns - self._preroll[0][3] > self.preroll_ns:
                    self._preroll.popleft()
            if fault is not None:
                raise fault

    def _event(self, text: str, now_s: float) -> None:
        event = parse_teach_event(text)
        if event["event"] == DEMO_START:
            self._in_demo, self._idle_since = True, None
            if self.writer is None:
                self._open()
        elif event["event"] in (DEMO_STOP, DEMO_ABORT):
            self._in_demo, self._idle_since = False, now_s

    def poll(self, now_s: float) -> Path | None:
        """Close the session's bag once it has been idle long enough; returns the closed bag."""
        with self._lock:
            idle = self._idle_since is not None and now_s - self._idle_since >= self.session_idle_s
            if self.writer is None or not self.split_sessions or self._in_demo or not idle:
                return None
            return self._close()

    def _close(self) -> Path | None:
        if self.writer is None:
            return None
        path = self.writer.close()
        self.writer, self._idle_since = None, None
        self.finished.append(path)
        return path

    def close(self) -> Path | None:
        """Close the open bag, if any (at shutdown)."""
        with self._lock:
            return self._close()


# --- bag -> episodes ------------------------------------------------------------------------------------
CAMERA_TOPIC = "/camera/image_raw"
AUDIO_TOPIC = "/audio/pcm"
JOINT_STATES_TOPIC = "/joint_states"
IMU_TOPIC = "/imu/data"
JOINT_COMMANDS_TOPIC = "/joint_commands"
CMD_VEL_TOPIC = "/cmd_vel"
RECORDED_TOPICS = {  # what the session recorder writes (topic -> type)
    CAMERA_TOPIC: "sensor_msgs/msg/Image",
    AUDIO_TOPIC: "std_msgs/msg/Int16MultiArray",
    JOINT_STATES_TOPIC: "sensor_msgs/msg/JointState",
    IMU_TOPIC: "sensor_msgs/msg/Imu",
    JOINT_COMMANDS_TOPIC: "std_msgs/msg/Float64MultiArray",
    CMD_VEL_TOPIC: "geometry_msgs/msg/Twist",
    TEACH_ACTION_TOPIC: TEACH_ACTION_TYPE,
    TEACH_EVENTS_TOPIC: TEACH_EVENTS_TYPE,
}
_ACTION_MODES_BY_DIM = {15: "hybrid", 12: "joint", 3: "gait"}
_NS_PER_S = 1e9
IMU_PAIRING_TOLERANCE_S = 1e-6  # s, an IMU sample stamped within this of a joint state counts as "at" it
PROGRESS_EVERY = 1000  # messages between progress callbacks


class _Replay:
    """Feeds a bag's raw streams through the brain's sensor-side code (yan_dog.streams), in log-time order,
    and cuts demonstrations at the teach events. One tick per /teach/action message inside a demo: the
    action the teacher sent after the sensors of that tick, paired with the observation the brain's
    `TickAligner` gives at that moment."""

    def __init__(self, spec, control_hz: float, imu: list[tuple[float, np.ndarray]], skill: str | None):
        from yan_dog import streams

        self.streams, self.spec, self.control_hz, self.skill = streams, spec, control_hz, skill
        self.aligner = streams.TickAligner(spec, control_hz)  # a fresh one per demonstration
        self.rechunker = streams.AudioRechunker(spec.samples_per_tick)
        self.imu_stamps = [s for s, _ in imu]
        self.imu = [v for _, v in imu]
        self.demo: EpisodeBuilder | None = None  # the demonstration being rebuilt
        # the newest observation matrix of each stream with its receive time (s), outside a demonstration
        self.newest: dict[str, tuple[Any, float]] = {}
        self.episodes: list[Episode] = []
        self.dropped: dict[str, int] = {}
        self.notes: list[str] = []

    def _drop(self, what: str) -> None:
        self.dropped[what] = self.dropped.get(what, 0) + 1

    def feed(self, topic: str, t_ns: int, msg: Any) -> None:
        st, now_s = self.streams, t_ns / _NS_PER_S
        try:
            if topic == CAMERA_TOPIC:
                matrix = st.camera_matrix(st.decode_image(msg), self.spec.image_size)  # (s, 3s)
                self._put(st.ObsMatrix("camera", st.stamp_to_s(msg.header.stamp), matrix), now_s)
            elif topic == AUDIO_TOPIC:
                for stamp_s, block in self.rechunker.push(st.decode_audio(msg), now_s):  # block (S,)
                    matrix = st.audio_matrix(block, self.spec.hop)  # (S / hop, hop)
                    self._put(st.ObsMatrix("audio", stamp_s, matrix), now_s)
            elif topic == JOINT_STATES_TOPIC:
                stamp_s = st.stamp_to_s(msg.header.stamp)
                i = bisect.bisect_right(self.imu_stamps, stamp_s + IMU_PAIRING_TOLERANCE_S) - 1
                if i < 0:
                    raise ValueError("joints: no IMU sample at or before this joint state")
                proprio = st.proprio_matrix(st.decode_joint_state(msg), self.imu[i])  # (1, 46)
                self._put(st.ObsMatrix("proprio", stamp_s, proprio), now_s)
            elif topic == TEACH_EVENTS_TOPIC:
                self._event(parse_teach_event(msg.data), t_ns)
            elif topic == TEACH_ACTION_TOPIC and self.demo is not None:
                self._tick(np.asarray(msg.data, np.float64), now_s)
        except ValueError as e:  # a bad message is dropped, as the live nodes drop it
            self._drop(f"{topic}: {str(e).split(':')[0]}")

    def _put(self, obs, now_s: float) -> None:
        """Observation matrices reach the aligner only inside a demonstration; outside one only the newest of
        each stream is kept. At a demo start a fresh aligner gets those: the latest camera frame and
        proprioception, and the newest audio block (the live brain drains its audio queue one block per
        tick, so that is all it holds then); each tick of the demo then consumes one audio block."""
        if self.demo is None:
            self.newest[obs.stream] = (obs, now_s)
        else:
            self.aligner.put(obs, now_s)

    def _tick(self, action: np.ndarray, now_s: float) -> None:
        if action.ndim != 1 or action.size not in _ACTION_MODES_BY_DIM or not np.isfinite(action).all():
            raise ValueError(f"teach action: need a finite vector of {sorted(_ACTION_MODES_BY_DIM)} values")
        tick = self.aligner.tick(now_s)  # obs None (stale): counted in the builder's stale_ticks
        self.demo.append(tick.obs, action, tick.stamps_s.get("proprio"))

    def _event(self, event: dict, t_ns: int) -> None:
        from yan_policy.data.episode import EpisodeBuilder

        kind = event["event"]
        if kind == DEMO_START:
            if self.demo is not None:
                skill = self.demo.metadata["skill"]
                self.notes.append(f"demo of {skill!r} restarted without a stop: discarded")
            # stamps from the first tick's joint state; a repeated one retimes the demo to nominal ticks
            self.demo = EpisodeBuilder(
                repeated_stamps="nominal", skill=event["skill"], cue=event.get("cue"), source="bag",
                seed=event.get("seed"), control_hz=self.control_hz, extra={"start_ns": t_ns},
            )
            self.aligner = self.streams.TickAligner(self.spec, self.control_hz)
            for obs, received_s in sorted(self.newest.values(), key=lambda x: x[1]):
                self.aligner.put(obs, received_s)
            self.newest.clear()
        elif kind in (DEMO_STOP, DEMO_ABORT) and self.demo is not None:
            demo, self.demo = self.demo, None
            if kind == DEMO_STOP:
                self._finish(demo, event)

    def _finish(self, demo: EpisodeBuilder, stop: dict) -> None:
        from yan_dog.teach_setup import teacher_mode_extra  # imports torch: only here

        skill = demo.metadata["skill"]
        if self.skill is not None and skill != self.skill:
            return
        if not len(demo):
            self.notes.append(f"demo of {skill!r} has no ticks ({demo.stale_ticks} stale): skipped")
            return
        self.episodes.append(
            demo.build(
                action_mode=_ACTION_MODES_BY_DIM[demo.actions[0].size],
                success=stop.get("success"),
                extra={"stale_ticks": demo.stale_ticks, **teacher_mode_extra(skill)},
            )
        )



def episodes_from_bag(
    path: str | os.PathLike,
    skill: str | None = None,
    spec=None,
    control_hz: float = 50.0,
    strict: bool = False,
    progress=None,
) -> list[Episode]:
    """The demonstrations recorded in a bag, as the brain saw them, one `Episode` each (source "bag").

    A demonstration runs from a `demo_start` to the next `demo_stop` teach event (a `demo_abort`, a
    second start or the end of the bag discard it). Its ticks are the /teach/action messages inside it:
    each action is paired with the observation the brain's `TickAligner` gives at that moment, fed with
    the raw streams decoded and shaped by `yan_dog.streams` exactly as the live preprocessing nodes do
    (camera resized to `spec.image_size`, audio re-chunked to one block per tick, joints reordered by
    name and paired with the IMU sample of the same stamp). Ticks whose inputs are stale are left out
    (counted in `extra["stale_ticks"]`); bad messages are dropped as the live nodes drop them. Every
    tick is labelled: the live brain also records its control ticks that had no fresh teach action, as
    context only (label_mask False); the bag has no record of those timer ticks, so they are not rebuilt.

    Args:
        path: the bag: an .mcap file, an unclosed .mcap.part, or a rosbag2 bag folder of MCAP files
            (`bag_files`; what `ros2 bag record -s mcap` writes).
        skill: keep only demonstrations of this skill.
        spec: `yan_dog.streams.ObsSpec` of the policy that will learn (default: the default policy's).
        control_hz: the brain's control rate.
        strict: raise `BagDamaged` on a damaged bag instead of warning.
        progress: called with the number of messages read so far (every 1000 and at the end).
    """
    from yan_dog import streams

    spec = spec or streams.ObsSpec()
    topics = list(RECORDED_TOPICS)
    imu: list[tuple[float, np.ndarray]] = []
    records: list[tuple[int, int, str, Any]] = []
    for i, (topic, t_ns, msg) in enumerate(read_bag(path, topics, strict=strict)):
        if topic == IMU_TOPIC:
            try:
                imu.append((streams.stamp_to_s(msg.header.stamp), streams.decode_imu(msg)))
            except ValueError:
                pass  # a bad IMU sample is dropped; the joint state pairs with the one before
        else:
            records.append((t_ns, i, topic, msg))
        if progress and (i + 1) % PROGRESS_EVERY == 0:
            progress(i + 1)
    if progress:
        progress(len(records) + len(imu))
    imu.sort(key=lambda x: x[0])
    replay = _Replay(spec, control_hz, imu, skill)
    for t_ns, _, topic, msg in sorted(records, key=lambda r: (r[0], r[1])):  # log-time order, stable
        replay.feed(topic, t_ns, msg)
    if replay.demo is not None:
        replay.notes.append(f"demo of {replay.demo.metadata['skill']!r} never stopped (bag ends): discarded")
    for note in replay.notes + [f"dropped {n} x {what}" for what, n in replay.dropped.items()]:
        warnings.warn(f"{Path(path).name}: {note}", stacklevel=2)
    return replay.episodes

