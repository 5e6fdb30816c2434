"""Tokenizers: token counts and widths, clear errors on bad input, audio ring buffer, missing streams."""

import numpy as np
import pytest
import torch

from yan_policy.data.synthetic import quat_from_rpy, random_batch, random_obs, tiny_config
from yan_policy.modules.tokenizers import (
    ObservationEncoder,
    imu_in_heading_frame,
    mel_filterbank,
    spatial_softmax,
)
from yan_policy.policies.config import TokenizerConfig


@pytest.fixture
def encoder():
    torch.manual_seed(0)
    return ObservationEncoder(TokenizerConfig(), d_model=64)


def _obs(seed=0, **changes):
    obs = random_obs(TokenizerConfig(), np.random.default_rng(seed))
    obs.update(changes)
    return obs


def test_token_counts_and_widths(encoder):
    assert (encoder.camera.n_tokens, encoder.camera.width) == (9, 64)  # 3x3 grid (no keypoints by default)
    assert (encoder.audio.n_tokens, encoder.audio.width) == (2, 64)  # 320 samples / 160 hop
    utterance = ObservationEncoder(TokenizerConfig(audio_frontend="utterance"), d_model=64).audio
    assert (utterance.n_tokens, utterance.width) == (1, 64)  # one utterance token
    assert (encoder.proprio.n_tokens, encoder.proprio.width) == (1, 64)
    assert encoder.n_tokens == 12
    with torch.no_grad():
        for hw in [(96, 96), (48, 64), (240, 320)]:  # any frame size is resized
            streams = encoder.streams_from_obs(_obs(camera=np.zeros((*hw, 3), np.uint8)))
            assert tuple(encoder.camera(streams.camera.flatten(0, 1)).shape) == (1, 9, 64)
            x, state = encoder(streams, encoder.initial_state(1, torch.float32))
            assert x.shape == (1, 1, 64) and state["audio_context"].shape == (1, 512)


BAD_INPUTS = [
    ("camera", np.zeros((96, 96, 3), np.float32), "camera: expected dtype uint8"),
    ("camera", np.zeros((3, 96, 96), np.uint8), "camera: got channel-first"),
    ("camera", np.zeros((96, 96, 4), np.uint8), "camera: expected 3 channels"),
    ("camera", np.zeros((96, 96), np.uint8), r"camera: expected shape \(H, W, 3\)"),
    ("camera", np.zeros((4, 4, 3), np.uint8), "camera: frame 4x4 is too small"),
    ("camera", [[0, 0, 0]], "camera: expected a numpy array"),
    ("audio", np.zeros(320, np.float32), "audio: expected int16 PCM"),
    ("audio", np.zeros((320, 2), np.int16), r"audio: expected mono shape \(S,\)"),
    ("audio", np.zeros(300, np.int16), "audio: expected 320 samples per tick, got 300"),
    ("joints", np.zeros(12, np.float32), r"joints: expected shape \(3, 12\)"),
    ("joints", np.zeros((3, 12), np.int64), "joints: expected a float array"),
    ("joints", np.full((3, 12), np.nan, np.float32), "joints: contains NaN or inf"),
    ("imu", np.zeros(9, np.float32), r"imu: expected shape \(10,\)"),
    ("imu", np.array([0, 0, 0, 1, 0, 0, np.inf, 0, 0, 9.8], np.float32), "imu: contains NaN or inf"),
]


@pytest.mark.parametrize(("stream", "value", "match"), BAD_INPUTS, ids=[m for _, _, m in BAD_INPUTS])
def test_bad_observation_is_rejected_with_a_clear_message(encoder, stream, value, match):
    with pytest.raises(ValueError, match=match):
        encoder.streams_from_obs(_obs(**{stream: value}))


def test_bad_batches_are_rejected(encoder):
    cfg = tiny_config(tokenizer=TokenizerConfig())
    batch = random_batch(cfg, 2, 3, np.random.default_rng(0))
    encoder.streams_from_batch(batch)  # the good batch passes
    bad_cases = [
        ({"joints": batch["joints"][:, :2]}, r"joints: leading dims \(2, 2\) differ"),
        ({"audio": batch["audio"].astype(np.float32)}, "audio: expected int16"),
        ({"camera": batch["camera"].transpose(0, 1, 4, 2, 3)}, "camera: got channel-first"),
        ({"imu_present": np.ones((2, 3), np.float32)}, "imu_present: expected bool"),
    ]
    for change, match in bad_cases:
        with pytest.raises(ValueError, match=match):
            encoder.streams_from_batch({**batch, **change})
    nan_joints = batch["joints"].copy()
    nan_joints[1, 2] = np.nan
    with pytest.raises(ValueError, match="joints: contains NaN"):
        encoder.streams_from_batch({**batch, "joints": nan_joints})
    present = np.ones((2, 3), bool)
    present[1, 2] = False  # NaN is fine where the reading is marked missing
    encoder.streams_from_batch({**batch, "joints": nan_joints, "joints_present": present})


def test_step_tokens_equal_sequence_tokens_including_the_audio_ring_buffer(encoder):
    """Tokenizing tick by tick (carrying the audio context) equals tokenizing the whole window at once."""
    cfg = tiny_config(tokenizer=TokenizerConfig())
    batch = random_batch(cfg, 1, 6, np.random.default_rng(1), image_hw=(96, 96))
    with torch.no_grad():
        state = encoder.initial_state(1, torch.float32)
        x_seq, s_seq = encoder(encoder.streams_from_batch(batch), state)
        xs = []
        for t in range(6):
            x, state = encoder(encoder.streams_from_obs({k: v[0, t] for k, v in batch.items()}), state)
            xs.append(x)
    torch.testing.assert_close(torch.cat(xs, 1), x_seq, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(state["audio_context"], s_seq["audio_context"])
    expected = torch.from_numpy(batch["audio"][0, -2:].reshape(-1)[-512:].astype(np.float32) / 32768.0)
    torch.testing.assert_close(state["audio_context"][0], expected)


def test_log_mel_separates_whistle_pitches(encoder):
    """1, 2 and 3 kHz tones peak in increasing mel bands; a clap (broadband burst) is flat by comparison."""
    t = np.arange(16000) / 16000
    peaks = []
    for f in (1000.0, 2000.0, 3000.0):
        tone = (8000 * np.sin(2 * np.pi * f * t)).astype(np.int16)
        two_ticks = torch.from_numpy(tone[:640] / 32768.0).float()[None]  # (1, 640)
        stream, _ = encoder.audio.advance(two_ticks, torch.zeros(1, 512))
        peaks.append(int(encoder.audio.log_mel(stream, 2)[0, -1, -1].argmax()))
    assert peaks[0] < peaks[1] < peaks[2]
    assert all(mel_filterbank(TokenizerConfig()).sum(0) > 0)  # no empty filter


def test_missing_stream_is_not_zeros(encoder):
    """A missing camera uses the learned missing embedding and flag, unlike a black frame."""
    obs = _obs()
    with torch.no_grad():
        state = encoder.initial_state(1, torch.float32)
        x_missing, _ = encoder(encoder.streams_from_obs({**obs, "camera": None}), state)
        black = np.zeros((96, 96, 3), np.uint8)
        x_black, _ = encoder(encoder.streams_from_obs({**obs, "camera": black}), state)
        without = {k: v for k, v in obs.items() if k != "camera"}
        x_absent, _ = encoder(encoder.streams_from_obs(without), state)
        assert encoder.streams_from_obs(obs).present.tolist() == [[[True, True, True, True]]]
        batch = {k: v[None, None] for k, v in obs.items()} | {"camera_present": np.zeros((1, 1), bool)}
        x_flag, _ = encoder(encoder.streams_from_batch(batch), state)  # the frame is there, flagged missing
    assert not torch.allclose(x_missing, x_black)
    torch.testing.assert_close(x_missing, x_absent)
    torch.testing.assert_close(x_missing, x_flag)


def test_audio_gap_is_silence_in_the_ring_buffer(encoder):
    with torch.no_grad():
        state = encoder.initial_state(1, torch.float32)
        _, state = encoder(encoder.streams_from_obs(_obs()), state)
        _, gap = encoder(encoder.streams_from_obs({**_obs(1), "audio": None}), state)
    assert torch.all(gap["audio_context"][0, -320:] == 0)
    torch.testing.assert_close(gap["audio_context"][0, :192], state["audio_context"][0, -192:])


def test_repeated_camera_frames_are_computed_once_with_identical_tokens_and_gradients():
    """A 10 Hz camera at 50 Hz ticks repeats each frame 5 times; the stem runs once per run of equal
    frames, which must change neither the tokens nor the gradients (checked in float64)."""
    from yan_policy.modules.tokenizers import CameraTokenizer

    torch.manual_seed(0)
    tok = CameraTokenizer(TokenizerConfig()).double()
    distinct = torch.randint(0, 256, (12, 32, 32, 3), dtype=torch.uint8)
    frames = torch.cat([distinct.repeat_interleave(5, 0), torch.zeros(7, 32, 32, 3, dtype=torch.uint8)])
    fast = tok(frames)  # (67, Nc, W)
    fast.square().sum().backward()
    grads = [p.grad.clone() for p in tok.parameters()]
    tok.zero_grad()
    slow = torch.cat([tok.stem(f[None]) for f in frames])  # every frame on its own
    slow.square().sum().backward()
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-12)
    for g, p in zip(grads, tok.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-10, atol=1e-10)


def _same_rotation(q, expected):
    """Quaternions q and -q are the same rotation."""
    q, expected = np.asarray(q, np.float64), np.asarray(expected, np.float64)
    assert min(np.abs(q - expected).max(), np.abs(q + expected).max()) < 1e-5, (q, expected)


def test_imu_heading_frame_reads_the_yaw_turned_since_the_first_reading():
    """Rotated by the first present reading's yaw: roll and pitch stay, yaw becomes yaw - start yaw
    (wrapping past ±pi included); gyro and accel, already in the body frame, are untouched."""
    rpy = [(0.0, 0.0, 0.7), (0.1, -0.05, 2.8), (0.1, -0.05, 2.8 + 1.0), (-0.2, 0.3, -3.0)]
    imu = np.zeros((1, 4, 10))
    imu[0, :, :4] = [quat_from_rpy(*a) for a in rpy]
    imu[0, :, 4:] = np.arange(6)
    present = torch.tensor([[False, True, True, True]])  # the first tick is absent: tick 1 sets the heading
    out, heading, has = imu_in_heading_frame(torch.from_numpy(imu), present, torch.zeros(1),
                                             torch.zeros(1, dtype=torch.bool))
    assert has.item() and heading.item() == pytest.approx(2.8)
    for t in (1, 2, 3):
        r, p, y = rpy[t]
        _same_rotation(out[0, t, :4], quat_from_rpy(r, p, y - 2.8))
    np.testing.assert_array_equal(out[0, :, 4:].numpy(), imu[0, :, 4:])
    # once set, a later window keeps the state's heading, and a window with no reading sets nothing
    out2, heading2, _ = imu_in_heading_frame(torch.from_numpy(imu[:, :1]), torch.tensor([[True]]),
                                             heading, has)
    _same_rotation(out2[0, 0, :4], quat_from_rpy(0.0, 0.0, 0.7 - 2.8))
    _, _, has3 = imu_in_heading_frame(torch.from_numpy(imu), torch.zeros(1, 4, dtype=torch.bool),
                                      torch.zeros(1), torch.zeros(1, dtype=torch.bool))
    assert not has3.item()


@pytest.mark.parametrize("heading_frame", [True, False])
def test_tokens_do_not_depend_on_the_start_heading_in_the_heading_frame(heading_frame):
    """The same episode started facing another way: identical tokens in the heading frame (the point of
    it), different ones in the IMU's world frame."""
    cfg = TokenizerConfig(imu_heading_frame=heading_frame)
    torch.manual_seed(0)
    enc = ObservationEncoder(cfg, d_model=32)
    batch = random_batch(tiny_config(tokenizer=cfg), 2, 5, np.random.default_rng(4))
    turned = {k: v.copy() for k, v in batch.items()}
    offset = quat_from_rpy(0.0, 0.0, 1.3)  # the whole episode rotated by 1.3 rad about the vertical
    x, y, z, w = np.moveaxis(batch["imu"][..., :4], -1, 0)
    ox, oy, oz, ow = offset  # offset ⊗ q, the Hamilton product
    turned["imu"][..., :4] = np.stack([ow * x - oz * y, ow * y + oz * x, ow * z + oz * w, ow * w - oz * z],
                                      axis=-1)
    with torch.no_grad():
        a, _ = enc(enc.streams_from_batch(batch), enc.initial_state(2, torch.float32))
        b, _ = enc(enc.streams_from_batch(turned), enc.initial_state(2, torch.float32))
    if heading_frame:
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    else:
        assert (a - b).abs().max() > 1e-2


def test_spatial_softmax_finds_the_peak_and_says_how_peaked_it_is():
    side = 8
    coords = torch.linspace(-1.0, 1.0, side)
    pos = torch.stack([coords.repeat(side), coords.repeat_interleave(side)], dim=-1)  # (64, 2) x, y
    scores = torch.zeros(1, 2, side * side)
    scores[0, 0, 1 * side + 6] = 20.0  # map 0: one sharp spot at row 1, column 6; map 1: flat
    where, peak = spatial_softmax(scores, pos)
    torch.testing.assert_close(where[0, 0], torch.stack([coords[6], coords[1]]), atol=1e-4, rtol=0)
    torch.testing.assert_close(where[0, 1], torch.zeros(2), atol=1e-6, rtol=0)  # the centre
    assert peak[0, 0] > 10.0 and abs(peak[0, 1].item()) < 1e-6


def _frames_with_a_ball(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n grey 32x32 frames, each with a 2x2 px orange ball (as the sim's at ~1.5 m) somewhere; and the
    ball's column in [-1, 1]."""
    frames = torch.full((n, 32, 32, 3), 120, dtype=torch.uint8)
    frames += torch.randint(0, 8, frames.shape, generator=g, dtype=torch.uint8)  # sensor noise
    col, row = torch.randint(0, 31, (n,), generator=g), torch.randint(8, 24, (n,), generator=g)
    for i in range(n):
        frames[i, row[i]:row[i] + 2, col[i]:col[i] + 2] = torch.tensor([242, 89, 13], dtype=torch.uint8)
    return frames, (col.float() + 1.0) / 16.0 - 1.0


@pytest.mark.parametrize("keypoints", [0, 8])
def test_where_a_small_ball_is_can_be_learned_better_with_keypoints(keypoints):
    """Regress a 2 px ball's column from the camera tokens (150 Adam steps): pooled to a 3x3 grid, the
    position blurs into a cell; the keypoint token keeps it (measured: mean error 0.056 vs 0.150)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    tok = TokenizerConfig(image_size=32, camera_pool="avg", camera_keypoints=keypoints)  # as measured
    cam = ObservationEncoder(tok, d_model=32).camera
    assert cam.n_tokens == 9 + (keypoints > 0)
    readout = torch.nn.Linear(cam.n_tokens * cam.width, 1)
    opt = torch.optim.Adam([*cam.parameters(), *readout.parameters()], lr=3e-3)
    for _ in range(150):
        frames, col = _frames_with_a_ball(32, g)
        loss = (readout(cam(frames).flatten(1))[:, 0] - col).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    frames, col = _frames_with_a_ball(512, torch.Generator().manual_seed(99))
    with torch.no_grad():
        error = (readout(cam(frames).flatten(1))[:, 0] - col).abs().mean().item()
    if keypoints:
        assert error < 0.09  # under 3/4 px at 32 px
    else:
        assert error > 0.12  # the grid alone: 2 px or more (else the keypoints would not be needed)
