"""The utterance audio front end: both forms agree (float64), shapes, bad input, silence, cost per tick."""

import time

import numpy as np
import pytest
import torch

from yan_policy.data.synthetic import random_batch, tiny_config
from yan_policy.modules.tokenizers import ObservationEncoder
from yan_policy.modules.utterance import UtteranceTokenizer
from yan_policy.policies.config import TokenizerConfig

UTTERANCE = TokenizerConfig(audio_frontend="utterance")


def _tokenizer(dtype=torch.float64):
    torch.manual_seed(0)
    return UtteranceTokenizer(UTTERANCE).to(dtype)


def _speechlike(b, t, seed=0):
    """(B, T, 320) float64: noise, then a 0.4 s harmonic burst with a moving pitch, then noise."""
    rng = np.random.default_rng(seed)
    x = 0.01 * rng.standard_normal((b, t * 320))
    n = 6400
    f0 = 150 + 60 * np.linspace(0, 1, n)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    burst = sum(np.sin(k * phase) / k for k in range(1, 8)) * np.hanning(n) * 0.3
    end = min(3200 + n, x.shape[1])
    x[:, 3200:end] += burst[:max(0, end - 3200)]
    return torch.from_numpy(x).reshape(b, t, 320)


def test_shapes_and_state_sizes():
    tok = _tokenizer()
    state = tok.initial_state(3, torch.float64)
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "audio_context": (3, 512), "audio.conv0": (3, 2, 42), "audio.conv1": (3, 4, 32),
        "audio.conv2": (3, 8, 32), "audio.conv3": (3, 16, 32), "audio.feats": (3, 99, 34)}
    assert set(state) == set(tok.state_keys)
    tokens, new = tok.forward_state(_speechlike(3, 7), state)
    assert tuple(tokens.shape) == (3, 7, 1, 64) and tok.n_tokens == 1
    assert {k: v.shape for k, v in new.items()} == {k: v.shape for k, v in state.items()}
    enc = ObservationEncoder(UTTERANCE, d_model=32)
    assert enc.audio.n_tokens == 1 and enc.n_tokens == 9 + 1 + 1
    assert ObservationEncoder(TokenizerConfig(), d_model=32).audio.n_tokens == 2  # the default: mel_ticks


@pytest.mark.parametrize("splits", [(1,) * 12, (5, 7), (3, 1, 8)])
def test_parallel_form_equals_tick_by_tick_float64(splits):
    """Tokens and every state buffer: one call over T ticks == any split of T into windows, carried."""
    tok = _tokenizer()
    audio = _speechlike(2, sum(splits), seed=1)
    tokens, final = tok.forward_state(audio, tok.initial_state(2, torch.float64))
    state, parts, start = tok.initial_state(2, torch.float64), [], 0
    for n in splits:
        out, state = tok.forward_state(audio[:, start:start + n], state)
        parts.append(out)
        start += n
    torch.testing.assert_close(torch.cat(parts, 1), tokens, rtol=1e-12, atol=1e-12)
    for k in final:
        torch.testing.assert_close(state[k], final[k], rtol=1e-12, atol=1e-12)


def test_gradients_equal_in_both_forms_float64():
    audio = _speechlike(1, 6, seed=2)
    grads = []
    for splits in [(6,), (1,) * 6]:
        tok = _tokenizer()
        state, outs, start = tok.initial_state(1, torch.float64), [], 0
        for n in splits:
            out, state = tok.forward_state(audio[:, start:start + n], state)
            outs.append(out)
            start += n
        torch.cat(outs, 1).square().sum().backward()
        grads.append([p.grad.clone() for p in tok.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_encoder_step_equals_sequence_and_a_gap_is_silence():
    cfg = tiny_config()
    cfg.tokenizer.audio_frontend = "utterance"
    torch.manual_seed(0)
    enc = ObservationEncoder(cfg.tokenizer, d_model=32).double()
    batch = random_batch(cfg, 1, 6, np.random.default_rng(1))
    batch["audio_present"] = np.array([[True, True, False, True, True, True]])
    with torch.no_grad():
        state = enc.initial_state(1, torch.float64)
        x_seq, s_seq = enc(enc.streams_from_batch(batch), state)
        xs = []
        for t in range(6):
            obs = {k: v[0, t] for k, v in batch.items() if not k.endswith("_present")}
            if t == 2:
                obs["audio"] = None
            x, state = enc(enc.streams_from_obs(obs), state)
            xs.append(x)
    torch.testing.assert_close(torch.cat(xs, 1), x_seq, rtol=1e-10, atol=1e-10)
    for k in s_seq:
        torch.testing.assert_close(state[k], s_seq[k], rtol=1e-10, atol=1e-10)


def test_silence_and_steady_noise_give_a_flat_embedding_unlike_a_word():
    """Tokens stay put over a second of steady noise (the window holds no event) and move when a
    word-like burst enters the window; the energy range shows it."""
    tok = _tokenizer()
    rng = np.random.default_rng(3)
    noise = torch.from_numpy(0.01 * rng.standard_normal((1, 150, 320)))
    with torch.no_grad():
        tokens, _ = tok.forward_state(noise, tok.initial_state(1, torch.float64))
        steady = tokens[0, 100:, 0]  # ticks after the window holds only noise
        spread = (steady - steady.mean(0)).abs().max()
        word, _ = tok.forward_state(_speechlike(1, 60, seed=3), tok.initial_state(1, torch.float64))
    jump = (word[0, 45, 0] - steady.mean(0)).abs().max()
    assert jump > 5 * spread


def test_bad_config_and_bad_input_are_rejected():
    with pytest.raises(ValueError, match="audio_frontend must be one of"):
        TokenizerConfig(audio_frontend="whisper")
    with pytest.raises(ValueError, match="utterance_window_s"):
        TokenizerConfig(utterance_window_s=0.01)
    with pytest.raises(ValueError, match="utterance_channels"):
        TokenizerConfig(utterance_channels=0)
    enc = ObservationEncoder(UTTERANCE, d_model=32)
    for audio, match in [(np.zeros(320, np.float32), "audio: expected int16"),
                         (np.zeros(300, np.int16), "audio: expected 320 samples per tick, got 300"),
                         (np.zeros((320, 2), np.int16), "audio: expected mono shape")]:
        with pytest.raises(ValueError, match=match):
            enc.streams_from_obs({"audio": audio})


def audio_tick_ms(cfg: TokenizerConfig, n: int = 300) -> float:
    """Median wall time (ms) of one control tick of the audio front end at batch 1, float32."""
    torch.manual_seed(0)
    enc = ObservationEncoder(cfg, d_model=64)
    rng = np.random.default_rng(0)
    pcm = rng.integers(-3000, 3000, (n, 1, 1, 320)).astype(np.float32) / 32768
    ticks = [torch.from_numpy(x) for x in pcm]
    times = []
    with torch.inference_mode():
        state = enc.audio.initial_state(1, torch.float32)
        for x in ticks:
            t0 = time.perf_counter()
            _, state = enc.audio.forward_state(x, state)
            times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times[n // 3:]))


def test_cost_per_tick_is_small_on_one_core():
    """Issue 29 asks <= 1 ms per tick on one core (measured ~0.1-0.2 ms); a generous bound for CI."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ms = audio_tick_ms(UTTERANCE)
    finally:
        torch.set_num_threads(threads)
    assert ms < 3.0, ms
