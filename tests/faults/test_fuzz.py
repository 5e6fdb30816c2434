"""Property-based fuzzing (hypothesis, derandomized: the same examples every run) of everything that reads
input from outside: the policy's observation tokenizer, the ROS-free message decoders (yan_dog.streams)
and the ROS message readers (yan_dog_ros.msgs). Property: any input either works or raises ValueError
naming the fault (never another exception type), and what is accepted is finite."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sensor_msgs.msg import Image, Imu, JointState
from std_msgs.msg import Float64MultiArray, Int16MultiArray, String
from yan_dog_ros import msgs

from sim.robot import MOTOR_NAMES
from yan_dog import streams
from yan_policy.modules.tokenizers import ObservationEncoder
from yan_policy.policies.config import TokenizerConfig

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CFG = TokenizerConfig()
ENCODER = ObservationEncoder(CFG, d_model=32).eval()
STREAM_SHAPES = {"camera": (CFG.image_size, CFG.image_size, 3), "audio": (CFG.samples_per_tick,),
                 "joints": (3, CFG.n_joints), "imu": (10,)}
DTYPES = st.sampled_from([np.uint8, np.int16, np.int32, np.int64, np.uint16, np.float16, np.float32,
                          np.float64, np.bool_, np.complex64])


def near_shape(shape):
    """Shapes like `shape`, often off by a dimension or a size (and sometimes empty)."""
    return st.one_of(st.just(shape), hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=40),
                     st.just(shape[:-1]), st.just((*shape, 1)), st.just(tuple(s + 1 for s in shape)))


@st.composite
def any_array(draw, shape):
    dtype = np.dtype(draw(DTYPES))
    return draw(hnp.arrays(dtype, draw(near_shape(shape))))


@st.composite
def observation(draw):
    """An observation dict where each stream is missing, None, garbage or an array of any dtype/shape."""
    obs = {}
    for name, shape in STREAM_SHAPES.items():
        kind = draw(st.sampled_from(["array", "array", "missing", "none", "list", "text"]))
        if kind == "array":
            obs[name] = draw(any_array(shape))
        elif kind == "none":
            obs[name] = None
        elif kind == "list":
            obs[name] = [1, 2, 3]
        elif kind == "text":
            obs[name] = np.array(["not", "numbers"])
    return obs


@st.composite
def valid_observation(draw):
    """A valid observation: any camera size >= 8, full-range PCM, finite joints and IMU of any magnitude."""
    h, w = draw(st.integers(8, 64)), draw(st.integers(8, 64))
    finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)
    return {
        "camera": draw(hnp.arrays(np.uint8, (h, w, 3))),
        "audio": draw(hnp.arrays(np.int16, STREAM_SHAPES["audio"])),
        "joints": draw(hnp.arrays(np.float32, STREAM_SHAPES["joints"], elements=finite)),
        "imu": draw(hnp.arrays(np.float32, STREAM_SHAPES["imu"], elements=finite)),
    }


@FUZZ
@given(observation())
def test_the_tokenizer_refuses_malformed_observations_with_a_value_error_only(obs):
    """Fault: observation streams of any type, dtype and shape. Outcome: accepted or ValueError."""
    try:
        ENCODER.streams_from_obs(obs)
    except ValueError:
        pass


@FUZZ
@given(valid_observation())
def test_valid_observations_give_finite_tokens(obs):
    """Valid input of any magnitude (camera of any size, full-scale audio, large joint values) gives
    finite encoder tokens."""
    with torch.no_grad():
        tokens, _ = ENCODER(ENCODER.streams_from_obs(obs), ENCODER.initial_state(1, torch.float32))
    assert torch.isfinite(tokens).all()


# --- raw sensor messages (real rclpy message types: the field types are enforced, values are anything) ----

U32 = st.integers(0, 2**32 - 1)
SMALL = st.integers(0, 40)
ENCODINGS = st.sampled_from(["rgb8", "bgr8", "RGB8", "mono8", "32FC1", "", "rgb8\x00", "16UC3"])
FLOATS = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def image_msg(draw):
    h, w = draw(st.one_of(SMALL, U32)), draw(st.one_of(SMALL, U32))
    step = draw(st.one_of(st.just(w * 3 % 2**32), st.just(w * 4 % 2**32), SMALL, U32))
    size = draw(st.one_of(st.just(min(step * h, 20_000)), st.integers(0, 2_000)))
    return Image(height=h, width=w, step=step, encoding=draw(ENCODINGS),
                 data=draw(st.binary(min_size=size, max_size=size)))


@st.composite
def joint_state_msg(draw):
    full = st.permutations([*MOTOR_NAMES, "extra"])  # every joint, in any order: often decodable
    names = draw(st.one_of(full, st.lists(st.sampled_from([*MOTOR_NAMES, "extra", ""]), max_size=16)))
    values = st.one_of(st.lists(FLOATS, min_size=len(names), max_size=len(names)),
                       st.lists(FLOATS, max_size=16))
    return JointState(name=names, position=draw(values), velocity=draw(values), effort=draw(values))


def _imu(v) -> Imu:
    msg = Imu()
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = v[0:4]
    msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z = v[4:7]
    msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = v[7:10]
    return msg


def only_value_errors(fn, *args):
    try:
        return fn(*args)
    except ValueError:
        return None


@FUZZ
@given(image_msg())
def test_image_decoders_raise_only_value_errors(msg):
    """Fault: Image messages with any size, step, encoding and data length. Outcome: a frame of the
    declared size, or ValueError."""
    for decode in (streams.decode_image, msgs.rgb8_from_msg, msgs.obs_matrix_from_msg):
        out = only_value_errors(decode, msg)
        if out is not None and decode is not msgs.obs_matrix_from_msg:
            assert out.shape == (msg.height, msg.width, 3) and out.dtype == np.uint8
        elif out is not None:
            assert out.shape == (msg.height, msg.width) and np.isfinite(out).all()


@FUZZ
@given(joint_state_msg())
def test_joint_state_decoder_raises_only_value_errors(msg):
    """Fault: joint states with any names, counts and values (NaN, inf, huge). Outcome: finite (3, 12)
    in the policy's joint order, or ValueError."""
    out = only_value_errors(streams.decode_joint_state, msg)
    if out is not None:
        assert out.shape == (3, 12) and np.isfinite(out).all()


@FUZZ
@given(st.lists(FLOATS, min_size=10, max_size=10))
def test_imu_decoders_raise_only_value_errors(values):
    """Fault: IMU fields of any float value. Outcome: finite (10,), or ValueError."""
    msg = _imu(values)
    for decode in (streams.decode_imu, msgs.imu_vector_from_msg):
        out = only_value_errors(decode, msg)
        if out is not None:
            assert out.shape == (10,) and np.isfinite(out).all()


@FUZZ
@given(st.lists(st.integers(-(2**15), 2**15 - 1), max_size=2000))
def test_audio_decoders_raise_only_value_errors(samples):
    """Fault: audio chunks of any length (empty included) and any int16 values (clipping included).
    Outcome: int16 (n,) equal to the samples, or ValueError."""
    msg = Int16MultiArray(data=samples)
    for decode in (streams.decode_audio, msgs.audio_samples_from_msg):
        out = only_value_errors(decode, msg)
        if out is not None:
            assert out.dtype == np.int16 and out.tolist() == samples


@FUZZ
@given(st.lists(FLOATS, max_size=20), st.text(max_size=50))
def test_command_and_status_readers_raise_only_value_errors(values, text):
    """Fault: teach actions of any length and value; status strings of any text. Outcome: ValueError or
    a finite vector of the right size / a dict."""
    out = only_value_errors(msgs.float_array_values, Float64MultiArray(data=values), 15, "teach action")
    if out is not None:
        assert out.shape == (15,) and np.isfinite(out).all()
    payload = only_value_errors(msgs.json_from_msg, String(data=text))
    assert payload is None or isinstance(payload, dict)


@FUZZ
@given(st.sampled_from(streams.OBS_STREAMS), any_array((1, 46)), st.floats(allow_nan=True))
def test_the_tick_aligner_refuses_bad_obs_matrices_with_a_value_error_only(stream, data, stamp):
    """Fault: observation matrices of any dtype/shape and stamps of any value (NaN, inf). Outcome: ValueError,
    or accepted, after which the next tick's observation (if any) is finite."""
    al = streams.TickAligner(streams.ObsSpec(), 50.0)
    only_value_errors(al.put, streams.ObsMatrix(stream, stamp, data), 0.0, 0.0)
    tick = al.tick(0.0)
    assert tick.obs is None or all(np.isfinite(v.astype(np.float64)).all() for v in tick.obs.values())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_stamp_builders_refuse_non_finite_or_negative_times(bad):
    """Fault: a NaN, inf or negative time becoming a message stamp. Outcome: ValueError."""
    with pytest.raises(ValueError, match="stamp"):
        msgs.to_stamp(bad)
    with pytest.raises(ValueError, match="stamp"):
        streams.s_to_sec_nanosec(bad)
