"""yan_dog.streams: decoding raw sensor messages, observation matrices and their inverse, tick alignment."""

from types import SimpleNamespace as Msg

import numpy as np
import pytest

from sim.robot import MOTOR_NAMES
from yan_dog import streams as st
from yan_policy.data.episode import Episode
from yan_policy.modules.tokenizers import episode_at_image_size

SPEC = st.ObsSpec()  # the policy defaults: 64x64 camera, 320 samples per tick, hop 160, 12 joints
CONTROL_HZ = 50.0


def image_msg(frame, encoding="rgb8", pad=0):
    h, w, _ = frame.shape
    rows = np.zeros((h, w * 3 + pad), np.uint8)
    rows[:, : w * 3] = frame.reshape(h, -1)
    return Msg(height=h, width=w, step=w * 3 + pad, encoding=encoding, is_bigendian=0, data=rows.tobytes())


def joint_msg(names=MOTOR_NAMES, pos=None, vel=None, eff=None):
    n = len(names)
    return Msg(name=list(names), position=list(np.arange(n) * 0.1 if pos is None else pos),
               velocity=list(np.ones(n) if vel is None else vel),
               effort=list(np.full(n, 2.0) if eff is None else eff))


def imu_msg(values=(0, 0, 0, 1, 0.1, 0.2, 0.3, 0, 0, 9.81)):
    v = [float(x) for x in values]
    return Msg(orientation=Msg(x=v[0], y=v[1], z=v[2], w=v[3]), angular_velocity=Msg(x=v[4], y=v[5], z=v[6]),
               linear_acceleration=Msg(x=v[7], y=v[8], z=v[9]))


def sim_obs(rng, size=96):
    return {"camera": rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
            "audio": rng.integers(-3000, 3000, SPEC.samples_per_tick).astype(np.int16),
            "joints": rng.normal(size=(3, 12)).astype(np.float32),
            "imu": rng.normal(size=10).astype(np.float32)}


# --- decode -------------------------------------------------------------------------------------------------

def test_decode_image_rgb_bgr_and_padded_rows():
    frame = np.random.default_rng(0).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    np.testing.assert_array_equal(st.decode_image(image_msg(frame)), frame)
    np.testing.assert_array_equal(st.decode_image(image_msg(frame[:, :, ::-1].copy(), "bgr8")), frame)
    np.testing.assert_array_equal(st.decode_image(image_msg(frame, pad=5)), frame)
    import array
    msg = image_msg(frame)
    msg.data = array.array("B", msg.data)  # how rclpy hands the bytes over
    np.testing.assert_array_equal(st.decode_image(msg), frame)


@pytest.mark.parametrize("change, match", [
    ({"encoding": "mono8"}, "encoding 'mono8'"),
    ({"step": 10}, "step 10 is smaller"),
    ({"height": 0}, "height and width"),
    ({"data": b"\x00" * 11}, "data has 11 bytes"),
])
def test_decode_image_rejects_bad_messages(change, match):
    msg = image_msg(np.zeros((4, 5, 3), np.uint8))
    for k, v in change.items():
        setattr(msg, k, v)
    with pytest.raises(ValueError, match=match):
        st.decode_image(msg)


def test_decode_audio_accepts_lists_and_rejects_empty_or_out_of_range():
    np.testing.assert_array_equal(st.decode_audio(Msg(data=[1, -2, 3])), np.array([1, -2, 3], np.int16))
    with pytest.raises(ValueError, match="non-empty"):
        st.decode_audio(Msg(data=[]))
    with pytest.raises(ValueError, match="int16"):
        st.decode_audio(Msg(data=[70000]))


def test_decode_joint_state_reorders_by_name_and_fills_missing_rates():
    order = list(reversed(MOTOR_NAMES)) + ["extra_joint"]
    pos = {n: i * 0.1 for i, n in enumerate(MOTOR_NAMES)}
    msg = joint_msg(order, pos=[pos.get(n, 9.0) for n in order], vel=[], eff=[])
    j = st.decode_joint_state(msg)
    assert j.shape == (3, 12) and j.dtype == np.float32
    np.testing.assert_allclose(j[0], np.arange(12) * 0.1, atol=1e-6)
    assert not j[1:].any()  # velocity and effort left out by the driver: zeros


@pytest.mark.parametrize("msg, match", [
    (joint_msg(MOTOR_NAMES[:11]), r"missing joints \['RL_lower_joint'\]"),
    (joint_msg(list(MOTOR_NAMES[:11]) + ["FR_hip_joint"]), "duplicated joint names"),
    (joint_msg(pos=[np.nan] + [0.0] * 11), r"non-finite position for \['FR_hip_joint'\]"),
    (joint_msg(vel=[0.0] * 11 + [np.inf]), "non-finite velocity"),
    (joint_msg(eff=[0.0] * 5), "effort has 5 values for 12 names"),
    (joint_msg(pos=[]), "position has 0 values"),
])
def test_decode_joint_state_rejects_bad_messages(msg, match):
    with pytest.raises(ValueError, match=match):
        st.decode_joint_state(msg)


def test_decode_imu_order_and_nan():
    np.testing.assert_allclose(st.decode_imu(imu_msg()), [0, 0, 0, 1, 0.1, 0.2, 0.3, 0, 0, 9.81], rtol=1e-6)
    with pytest.raises(ValueError, match=r"imu: non-finite fields \['gy'\]"):
        st.decode_imu(imu_msg((0, 0, 0, 1, 0, np.nan, 0, 0, 0, 9.8)))


def test_stamp_conversions_round_trip():
    sec, ns = st.s_to_sec_nanosec(12.25)
    assert (sec, ns) == (12, 250_000_000) and st.stamp_to_s(Msg(sec=sec, nanosec=ns)) == 12.25
    with pytest.raises(ValueError, match="stamp"):
        st.s_to_sec_nanosec(-1.0)


# --- observation matrices -----------------------------------------------------------------------------------

def test_matrices_round_trip_to_the_policy_obs():
    rng = np.random.default_rng(1)
    obs = sim_obs(rng, size=SPEC.image_size)
    matrices = st.matrices_from_obs(obs, SPEC)
    assert {k: v.shape for k, v in matrices.items()} == {s: SPEC.shape(s) for s in st.OBS_STREAMS}
    assert all(v.dtype == np.float32 for v in matrices.values())
    back = st.obs_from_matrices(matrices["camera"], matrices["audio"], matrices["proprio"])
    for k in obs:
        assert back[k].dtype == obs[k].dtype and back[k].shape == obs[k].shape
        np.testing.assert_array_equal(back[k], obs[k])


def test_camera_matrix_resizes_like_the_policy():
    import torch

    from yan_policy.modules.tokenizers import resize_frames
    frame = np.random.default_rng(2).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    expected = resize_frames(torch.from_numpy(frame[None]), SPEC.image_size)[0].numpy()
    np.testing.assert_array_equal(st.camera_from_matrix(st.camera_matrix(frame, SPEC.image_size)), expected)


def test_matrix_checks_name_the_fault():
    with pytest.raises(ValueError, match=r"audio matrix: expected shape \(2, 160\)"):
        st.check_obs_matrix("audio", np.zeros((3, 160)), SPEC)
    with pytest.raises(ValueError, match="proprio matrix: contains NaN"):
        st.check_obs_matrix("proprio", np.full((1, 46), np.nan), SPEC)
    with pytest.raises(ValueError, match="unknown observation stream"):
        SPEC.shape("lidar")
    with pytest.raises(ValueError, match="values outside 0..255"):
        st.camera_from_matrix(np.full((4, 12), 300.0, np.float32))
    with pytest.raises(ValueError, match="hop 7 must divide"):
        st.ObsSpec(hop=7)


def test_audio_rechunker_makes_ticks_from_any_chunk_size():
    r = st.AudioRechunker(320)
    pcm = np.arange(1000, dtype=np.int16)
    blocks = []
    for i, chunk in enumerate(np.split(pcm, [100, 350, 351, 999])):
        blocks += r.push(chunk, float(i))
    assert [b.size for _, b in blocks] == [320, 320, 320] and r.pending == 40
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), pcm[:960])
    assert [s for s, _ in blocks] == [1.0, 3.0, 3.0]  # stamped by the chunk that completed them
    r.gap()  # a dropout: samples from before it are never joined to samples after it
    assert r.pending == 0 and r.push(np.zeros(319, np.int16), 5.0) == []
    with pytest.raises(ValueError, match="int16"):
        r.push(np.zeros(3, np.float32), 0.0)


# --- alignment ----------------------------------------------------------------------------------------------

def feed(aligner, matrices, now, streams=st.OBS_STREAMS, stamp=None):
    for s in streams:
        aligner.put(st.ObsMatrix(s, now if stamp is None else stamp, matrices[s]), now)


def test_aligner_holds_the_camera_and_hands_one_audio_block_per_tick():
    rng = np.random.default_rng(3)
    al = st.TickAligner(SPEC, CONTROL_HZ)
    assert al.tick(0.0).obs is None and set(al.tick(0.0).stale) == set(st.OBS_STREAMS)  # nothing yet
    t0 = st.matrices_from_obs(sim_obs(rng), SPEC)
    feed(al, t0, 0.0)
    t1 = st.matrices_from_obs(sim_obs(rng), SPEC)
    feed(al, t1, 0.02, ("audio", "proprio"))  # no new frame: the camera is held
    a = al.tick(0.02)
    assert a.stale == [] and not a.audio_gap
    np.testing.assert_array_equal(a.obs["camera"], st.camera_from_matrix(t0["camera"]))
    np.testing.assert_array_equal(a.obs["audio"], st.audio_from_matrix(t0["audio"]))  # FIFO: oldest block
    np.testing.assert_array_equal(a.obs["joints"], st.proprio_from_matrix(t1["proprio"], 12)[0])  # latest
    b = al.tick(0.04)
    np.testing.assert_array_equal(b.obs["audio"], st.audio_from_matrix(t1["audio"]))
    c = al.tick(0.06)  # queue empty: an audio gap is silence
    assert c.audio_gap and not c.obs["audio"].any() and al.counts["audio_gaps"] == 1


def test_aligner_reports_stale_streams_and_recovers():
    rng = np.random.default_rng(4)
    al = st.TickAligner(SPEC, CONTROL_HZ)
    matrices = st.matrices_from_obs(sim_obs(rng), SPEC)
    feed(al, matrices, 0.0)
    limit = al.monitor.limit_s("proprio")
    assert limit == pytest.approx(0.02 + 3 * 0.02)
    feed(al, matrices, 0.1, ("camera", "audio"))  # proprio stops at 0.0
    assert al.tick(0.0 + limit).obs is not None  # exactly at the limit: not yet stale
    late = al.tick(0.0 + limit + 1e-3)
    assert late.obs is None and late.stale == ["proprio"]
    feed(al, matrices, 0.11)
    assert al.tick(0.11).obs is not None


def test_aligner_rejects_bad_and_out_of_order_matrices_and_bounds_the_audio_queue():
    rng = np.random.default_rng(5)
    al = st.TickAligner(SPEC, CONTROL_HZ, audio_queue_ticks=2)
    matrices = st.matrices_from_obs(sim_obs(rng), SPEC)
    with pytest.raises(ValueError, match="camera matrix: expected shape"):
        al.put(st.ObsMatrix("camera", 0.0, np.zeros((8, 24), np.float32)), 0.0)
    feed(al, matrices, 0.0, stamp=5.0)
    with pytest.raises(ValueError, match="out of order"):
        al.put(st.ObsMatrix("proprio", 4.9, matrices["proprio"]), 0.0)
    al.put(st.ObsMatrix("proprio", 0.1, matrices["proprio"]), 0.0)  # far behind: the source clock restarted
    for i in range(3):
        al.put(st.ObsMatrix("audio", 6.0 + i, matrices["audio"]), 0.01)
    assert al.counts["audio_dropped"] == 2  # queue of 2: the oldest blocks go
    assert al.tick(0.02).stamps_s["audio"] == 7.0


def test_monitor_validates_its_settings():
    with pytest.raises(ValueError, match="control_hz"):
        st.InputMonitor(0.0)
    with pytest.raises(ValueError, match="period of stream 'camera'"):
        st.InputMonitor(50.0, {"camera": 0.0})
    with pytest.raises(ValueError, match="unknown streams"):
        st.TickAligner(SPEC, 50.0, {"lidar": 0.1})


def test_episode_at_image_size_resizes_the_camera_only():
    rng = np.random.default_rng(6)
    t = 3
    ep = Episode(skill="sit", action_mode="hybrid", control_hz=50.0, stamps_s=np.arange(t) * 0.02,
                 joints=np.zeros((t, 3, 12)), imu=np.zeros((t, 10)), action=np.ones((t, 15)),
                 camera=rng.integers(0, 256, (t, 96, 96, 3), dtype=np.uint8), audio=np.zeros((t, 320)),
                 cue="x")
    small = episode_at_image_size(ep, 32)
    assert small.camera.shape == (t, 32, 32, 3) and small.cue == "x"
    np.testing.assert_array_equal(small.action, ep.action)
    assert episode_at_image_size(small, 32) is small
