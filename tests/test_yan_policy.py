"""The policy contract, for every registered policy; checkpoints; Yan state save/restore."""

import itertools
import json

import numpy as np
import pytest
import torch

from yan_policy import POLICIES, PolicyConfig, YanPolicy, load_policy, load_state, make_policy, save_state
from yan_policy.data.synthetic import batch_tick, random_batch, random_obs, tiny_config
from yan_policy.policies.base import PolicyBase, chunk_targets
from yan_policy.policies.config import TokenizerConfig
from yan_policy.policies.yan.configuration_yan import MCSDConfig, SparseConfig


def _policy(name, dtype=torch.float32, **overrides):
    torch.manual_seed(0)
    return make_policy(name, tiny_config(**overrides)).to(dtype)


def _batch(cfg, b=2, t=6, seed=0, **kw):
    return random_batch(cfg, b, t, np.random.default_rng(seed), **kw)


def _rollout(policy, obs_list, state=None):
    state = policy.initial_state() if state is None else state
    actions = []
    for obs in obs_list:
        action, state = policy.step(obs, state)
        actions.append(action)
    return np.stack(actions), state


def _ticks(cfg, n, seed=0):
    rng = np.random.default_rng(seed)
    return [random_obs(cfg.tokenizer, rng) for _ in range(n)]


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_registered_policy_keeps_the_contract(name):
    cls = POLICIES[name]
    assert issubclass(cls, PolicyBase) and cls.name == name
    assert not getattr(cls.build_backbone, "__isabstractmethod__", False)


def test_policy_base_is_abstract_and_a_policy_must_be_named():
    with pytest.raises(TypeError, match="abstract"):
        PolicyBase(tiny_config())
    with pytest.raises(TypeError, match="must set a non-empty class attribute `name`"):
        type("Nameless", (PolicyBase,), {"build_backbone": lambda self, config: None})

    class Unfinished(PolicyBase):  # no backbone: stays abstract, so it needs no name yet
        pass

    with pytest.raises(TypeError, match="abstract"):
        Unfinished(tiny_config())


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_forward_gives_finite_loss_and_gradients(name):
    policy = _policy(name)
    loss, logs = policy(_batch(policy.config))
    assert torch.isfinite(loss) and loss.item() > 0 and logs["loss"] == pytest.approx(loss.item())
    loss.backward()
    grads = {n: p.grad for n, p in policy.named_parameters()}
    assert all(g is None or torch.isfinite(g).all() for g in grads.values())
    trained = [n for n, g in grads.items() if g is not None and g.abs().sum() > 0]
    assert len(trained) > 0.8 * len(grads)  # missing embeddings get no gradient when all streams are present


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_step_from_initial_state(name):
    policy = _policy(name)
    state = policy.initial_state()
    chunk, state2 = policy.step_chunk(random_obs(policy.config.tokenizer, np.random.default_rng(0)), state)
    assert chunk.shape == (3, 12) and chunk.dtype == np.float32 and np.isfinite(chunk).all()
    assert set(state2) == set(state)
    actions, _ = _rollout(policy, _ticks(policy.config, 5))
    assert actions.shape == (5, 12) and np.isfinite(actions).all()
    policy.reset()
    first = policy.select_action(_ticks(policy.config, 1)[0])
    np.testing.assert_array_equal(first, actions[0])


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_save_load_round_trip_gives_identical_actions(name, tmp_path):
    policy = _policy(name)
    policy.set_action_normalization(np.linspace(-1, 1, 12), np.full(12, 0.5))
    policy.save(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["policy"] == name
    loaded = load_policy(tmp_path / "ckpt")
    assert type(loaded) is type(policy) and loaded.config == policy.config
    ticks = _ticks(policy.config, 6)
    np.testing.assert_array_equal(_rollout(loaded, ticks)[0], _rollout(policy, ticks)[0])
    policy.save(tmp_path / "ckpt")  # overwriting is atomic and leaves no temp files behind
    assert len(list((tmp_path / "ckpt").iterdir())) == 2


def test_selective_yan_saves_and_loads_with_its_gates(tmp_path):
    torch.manual_seed(0)
    policy = YanPolicy(tiny_config(mcsd=MCSDConfig(n_channels=4, scan_chunk=8, selective=True)))
    with torch.no_grad():
        for block in policy.backbone.blocks:  # gates with input dependence, so the weights matter
            block.gate_bias.add_(torch.randn_like(block.gate_bias))
    policy.save(tmp_path / "ckpt")
    loaded = load_policy(tmp_path / "ckpt")
    assert loaded.config.mcsd.selective and loaded.config == policy.config
    ticks = _ticks(policy.config, 6)
    np.testing.assert_array_equal(_rollout(loaded, ticks)[0], _rollout(policy, ticks)[0])


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_parallel_form_equals_stepping(name):
    """predict_sequence over a window == step() tick by tick, and both continue from each other's state."""
    policy = _policy(name, torch.float64)
    batch = _batch(policy.config, b=1, t=7, seed=3, image_hw=(40, 56))
    batch["camera_present"] = np.array([[1, 1, 0, 1, 1, 1, 0]], bool)
    batch["audio_present"] = np.array([[1, 0, 1, 1, 1, 1, 1]], bool)
    batch["imu_present"] = np.array([[0, 1, 1, 1, 1, 1, 1]], bool)  # the start heading comes at tick 1
    ticks = [batch_tick(batch, 0, t) for t in range(7)]
    with torch.no_grad():
        chunks, state = policy.predict_sequence({k: v[:, :4] for k, v in batch.items()})
    stepped = []
    s = policy.initial_state()
    for obs in ticks:
        chunk, s = policy.step_chunk(obs, s)
        stepped.append(chunk)
    np.testing.assert_allclose(chunks[0].numpy(), np.stack(stepped[:4]), rtol=1e-5, atol=1e-6)
    resumed, _ = _rollout(policy, ticks[4:], state)  # step() resumed from the parallel form's state
    np.testing.assert_allclose(resumed, np.stack(stepped[4:])[:, 0], rtol=1e-5, atol=1e-6)
    _, step_state = _rollout(policy, ticks[:4])
    with torch.no_grad():  # and the parallel form resumed from step()'s (inference-mode) state
        tail, _ = policy.predict_sequence({k: v[:, 4:] for k, v in batch.items()}, step_state)
    np.testing.assert_allclose(tail[0].numpy(), np.stack(stepped[4:]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_backbone_parallel_form_equals_step_loop_float64(name):
    """Backbone level, float64, tight tolerance: forward over 9 ticks == 9 step() calls; resuming works."""
    backbone = _policy(name, torch.float64).backbone
    x = torch.randn(2, 9, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y_par, _, _ = backbone(x, backbone.initial_state(2, torch.float64))
        _, state, _ = backbone(x[:, :5], backbone.initial_state(2, torch.float64))
        ys = []
        for t in range(5, 9):
            y, state = backbone.step(x[:, t], state)
            ys.append(y)
    torch.testing.assert_close(torch.stack(ys, 1), y_par[:, 5:], rtol=1e-10, atol=1e-10)


def test_yan_state_save_restore_continues_identically(tmp_path):
    policy = _policy("yan")
    ticks = _ticks(policy.config, 10)
    whole, _ = _rollout(policy, ticks)
    first, state = _rollout(policy, ticks[:4])
    save_state(state, tmp_path / "state.safetensors")
    restored = load_state(tmp_path / "state.safetensors")
    assert set(restored) >= {"memory.w1", "memory.w2", "memory.s1", "memory.s2", "mcsd0.z", "audio_context"}
    policy.save(tmp_path / "policy")
    second, _ = _rollout(load_policy(tmp_path / "policy"), ticks[4:], restored)
    np.testing.assert_array_equal(np.concatenate([first, second]), whole)


def test_memory_is_written_while_stepping():
    policy = _policy("yan")
    state = policy.initial_state()
    _, after = _rollout(policy, _ticks(policy.config, 3), state)
    assert not torch.allclose(after["memory.w2"], state["memory.w2"])


def test_loss_ignores_padding_and_missing_streams_with_nan():
    policy = _policy("yan")
    batch = _batch(policy.config, b=2, t=6)
    batch["mask"] = np.array([[1] * 6, [1] * 4 + [0] * 2], bool)
    loss, _ = policy(batch)
    changed = {**batch, "action": batch["action"].copy()}
    changed["action"][1, 4:] = np.nan  # padded ticks may hold anything
    assert policy(changed)[0].item() == pytest.approx(loss.item(), rel=1e-6)
    missing = {**batch, "joints": batch["joints"].copy(), "joints_present": np.ones((2, 6), bool)}
    missing["joints"][0, 2] = np.nan
    missing["joints_present"][0, 2] = False
    assert torch.isfinite(policy(missing)[0])
    no_camera = {k: v for k, v in batch.items() if k != "camera"}
    assert torch.isfinite(policy(no_camera)[0])


def test_chunk_targets():
    action = torch.arange(5.0).reshape(1, 5, 1)
    mask = torch.tensor([[True, True, True, True, False]])
    targets, valid = chunk_targets(action, mask, 3)
    assert targets[0, :, :, 0].tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 0], [4, 0, 0]]
    assert valid[0].tolist() == [[1, 1, 1], [1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0]]


def test_default_yan_size_and_sparsity_report():
    policy = YanPolicy()
    assert 1e6 < policy.num_parameters() < 5e6
    report = policy.backbone.sparsity_report()
    assert report["active_fraction"] == 0.25
    assert report["mlp_flops_saved_fraction"] > 0.6 and 0 < report["backbone_flops_saved_fraction"] < 0.6


def test_config_validation_and_registry_errors(tmp_path):
    with pytest.raises(ValueError, match="not divisible by mcsd.n_channels"):
        PolicyConfig(d_model=100)
    with pytest.raises(ValueError, match="active_fraction"):
        SparseConfig(active_fraction=0.0)
    with pytest.raises(ValueError, match="unknown keys"):
        PolicyConfig.from_dict({"d_model": 64, "n_layer": 2})
    with pytest.raises(ValueError, match="unknown policy 'rnn'"):
        make_policy("rnn")
    cfg = tiny_config()
    assert PolicyConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    make_policy("gru", cfg).save(tmp_path / "gru")
    with pytest.raises(ValueError, match="holds a 'gru' policy"):
        YanPolicy.load(tmp_path / "gru")
    policy = _policy("mlp")
    with pytest.raises(ValueError, match=r"action: expected shape \(B, T, 12\)"):
        policy({**_batch(policy.config), "action": np.zeros((2, 6, 3), np.float32)})
    with pytest.raises(ValueError, match="std must be finite and > 0"):
        policy.set_action_normalization(np.zeros(12), np.zeros(12))


def _sure_of(classes: list[int | None], n_classes: int) -> torch.Tensor:
    """Backbone outputs (1, T, D) that make an identity cue head sure of classes[t] (None: unsure)."""
    y = torch.zeros(1, len(classes), 32, dtype=torch.float64)
    for t, c in enumerate(classes):
        if c is not None:
            y[0, t, c] = 20.0
    return y


def test_cue_latch_holds_the_first_sure_belief_until_reset():
    policy = _policy("yan", torch.float64, cue_latch=0.9)
    c = policy.config.cue_classes
    with torch.no_grad():  # logits = y[..., :C]: the test picks the cue head's belief per tick
        policy.cue_head.weight.zero_()
        policy.cue_head.weight[:, :c] = torch.eye(c, dtype=torch.float64)
        policy.cue_head.bias.zero_()
    y = _sure_of([None, 0, 3, 5, None], c)  # "no cue yet" is not a cue: class 0 never latches
    state = policy.initial_state()
    _, logits, q, held = policy._cue_select(y, state)
    p = torch.softmax(logits, -1)
    torch.testing.assert_close(q[0, :2], p[0, :2])  # before the first sure tick: the belief of the tick
    for t in (2, 3, 4):  # from then on: tick 2's belief, though tick 3 is sure of another cue
        torch.testing.assert_close(q[0, t], p[0, 2])
    assert q[0, 4].argmax() == 3 and held["cue.is_held"].item() == 1.0
    _, _, q2, held2 = policy._cue_select(_sure_of([5, 1], c), {**state, **held})  # the next window
    torch.testing.assert_close(q2[0], p[0, 2].expand(2, -1))
    torch.testing.assert_close(held2["cue.held"], held["cue.held"])
    _, _, q3, _ = policy._cue_select(_sure_of([5], c), policy.initial_state())  # a reset forgets it
    assert q3[0, 0].argmax() == 5


def test_parallel_form_equals_stepping_once_the_cue_latches():
    t = 16
    # a cue head peaked enough to get sure inside the window (not at once, not never): search data and scale
    for seed, scale in itertools.product(range(5, 15), np.geomspace(2.0, 30.0, 12)):
        batch = _batch(tiny_config(), b=1, t=t, seed=seed)
        ticks = [batch_tick(batch, 0, k) for k in range(t)]
        policy = _policy("yan", torch.float64, cue_latch=0.7)
        with torch.no_grad():
            policy.cue_head.weight.mul_(scale)
            policy.head.cue_w.normal_(0.0, 0.3)  # per-cue maps that differ (they start at zero)
        s, held_at, stepped = policy.initial_state(), [], []
        for obs in ticks:
            chunk, s = policy.step_chunk(obs, s)
            stepped.append(chunk)
            held_at.append(s["cue.is_held"].item())
        latched_at = held_at.index(1.0) if 1.0 in held_at else None
        if latched_at is not None and 1 <= latched_at <= t - 2:
            break
    assert latched_at is not None and 1 <= latched_at <= t - 2  # it latched inside the window, not before
    for split in (latched_at - 1 or 1, latched_at + 1):  # windows ending before / after the latch
        with torch.no_grad():
            head, state = policy.predict_sequence({k: v[:, :split] for k, v in batch.items()})
            tail, state = policy.predict_sequence({k: v[:, split:] for k, v in batch.items()}, state)
        np.testing.assert_allclose(torch.cat([head, tail], 1)[0].numpy(), np.stack(stepped), rtol=1e-5,
                                   atol=1e-6)
        torch.testing.assert_close(state["cue.held"], s["cue.held"])


def test_checkpoints_from_before_the_cue_heads_load_without_them(tmp_path):
    from safetensors.torch import load_file, save_file

    tokenizer = TokenizerConfig(**{**tiny_config().tokenizer.__dict__, "imu_heading_frame": False,
                                   "camera_pool": "avg"})
    old = _policy("yan", cue_heads=False, cue_latch=0.0, tokenizer=tokenizer)
    old.save(tmp_path / "old")
    weights = tmp_path / "old" / "model.safetensors"
    config = old.config.to_dict()
    del config["cue_heads"], config["cue_latch"]  # as once written
    del config["tokenizer"]["imu_heading_frame"], config["tokenizer"]["camera_pool"]
    save_file(load_file(weights), weights, {"policy": "yan", "config": json.dumps(config)})
    loaded = load_policy(tmp_path / "old")
    assert not loaded.config.cue_heads and loaded.config.cue_latch == 0.0
    assert not loaded.config.tokenizer.imu_heading_frame and loaded.config.tokenizer.camera_pool == "avg"
    ticks = _ticks(old.config, 4)
    np.testing.assert_array_equal(_rollout(loaded, ticks)[0], _rollout(old, ticks)[0])
    new = make_policy("yan", tiny_config()).config
    assert new.cue_heads and new.tokenizer.imu_heading_frame  # new policies get them
    assert new.tokenizer.camera_pool == "avgmax"
    with pytest.raises(ValueError, match="cue_latch must be in"):
        tiny_config(cue_latch=1.5)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_a_new_try_keeps_the_lifetime_state_and_starts_the_rest_afresh(name):
    """`lifetime_keys` (Yan: the native memory; the baselines: none) are carried by
    `initial_state(keep=...)`, `reset()` and nothing else; every other key starts afresh."""
    policy = _policy(name)
    lifetime = policy.lifetime_keys()
    assert lifetime == (("memory.w1", "memory.w2", "memory.s1", "memory.s2") if name == "yan" else ())
    fresh = policy.initial_state()
    _, lived = _rollout(policy, _ticks(policy.config, 5))
    carried = policy.initial_state(keep=lived)
    assert set(carried) == set(fresh)
    for key in fresh:
        expected = lived[key] if key in lifetime else fresh[key]
        torch.testing.assert_close(carried[key], expected, rtol=0, atol=0)
        assert not carried[key].is_inference()  # usable in autograd, unlike step()'s own tensors
    assert set(policy.lifetime_state(lived)) == set(lifetime)
    if name == "yan":
        assert not torch.equal(lived["memory.w1"], fresh["memory.w1"])  # the memory was written
        with pytest.raises(ValueError, match="memory.w1"):
            policy.initial_state(keep={**lived, "memory.w1": lived["memory.w1"][..., :1]})
    # select_action: reset() carries the memory, reset(keep_memory=False) forgets everything
    obs = _ticks(policy.config, 1)[0]
    first = policy.select_action(obs)
    policy.reset()
    again = policy.select_action(obs)
    assert np.array_equal(first, again) == (name != "yan")  # the same tick, a memory written once more
    policy.reset(keep_memory=False)
    np.testing.assert_array_equal(policy.select_action(obs), first)
