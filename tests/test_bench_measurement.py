"""The measurement machinery of DESIGN.md §7: the frozen dev / test split (`bench/splits.py`), the nested
bootstrap (`bench/stats.py`) and the parameter-matched baselines (`bench/matched.py`)."""

import inspect
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.matched import TOLERANCE, matched_baselines, param_count  # noqa: E402
from bench.splits import (  # noqa: E402
    CONDITIONS,
    MAX_EVAL_EPISODES,
    MAX_OFFSET,
    SPLITS,
    check_seeds,
    episode_offset,
)
from bench.stats import ahead, bootstrap_ci, bootstrap_mean_ci, episode_outcomes  # noqa: E402

OLD_SEEDS = (0, 1, 2)  # the training seeds of the tests and of the benches before the split


def _sim_seeds(seed: int) -> set[int]:
    """Every sim episode seed that training seed `seed` may use (demos, tries, evaluations)."""
    from yan_dog.session import DEMO_SEED_BASE, EVAL_SEED_BASE, TRY_SEED_BASE

    o = episode_offset(seed)
    return ({DEMO_SEED_BASE + o + i for i in range(1000)} | {TRY_SEED_BASE + o + i for i in range(1000)}
            | {EVAL_SEED_BASE + o + i for i in range(1000)})


def test_dev_and_test_share_no_training_seed_and_no_episode_seed():
    dev, test = SPLITS["dev"], SPLITS["test"]
    assert len(dev.train_seeds) >= 5 and len(test.train_seeds) >= 5  # the headline's >= 5 seeds
    assert not set(dev.train_seeds) & set(test.train_seeds)
    dev_eps = set().union(*map(_sim_seeds, dev.train_seeds))
    test_eps = set().union(*map(_sim_seeds, test.train_seeds))
    old_eps = set().union(*map(_sim_seeds, OLD_SEEDS)) | set(range(200_500, 200_500 + 400))  # old 500 / 700
    assert not dev_eps & test_eps and not (dev_eps | test_eps) & old_eps
    assert not set(dev.train_seeds + test.train_seeds) & set(OLD_SEEDS)
    for split in SPLITS.values():
        assert split.eval_episodes <= MAX_EVAL_EPISODES
        assert all(episode_offset(s) < MAX_OFFSET for s in split.train_seeds)


def test_check_seeds_keeps_test_seeds_out_of_dev_and_everything_else_out_of_test():
    check_seeds("dev", [0, 10])  # dev may look at an unreserved seed
    check_seeds("test", SPLITS["test"].train_seeds)
    with pytest.raises(ValueError, match="not a dev seed"):
        check_seeds("dev", [SPLITS["test"].train_seeds[0]])
    with pytest.raises(ValueError, match="not a test seed"):
        check_seeds("test", [0])
    with pytest.raises(ValueError, match="not a test seed"):
        check_seeds("test", [SPLITS["dev"].train_seeds[0]])


def test_split_conditions_are_what_the_sessions_env_does():
    import sim.env as env
    from sim.microphone import DEFAULT_SNR_DB
    from yan_dog.recording import CUE_SPLIT_OF_MODE

    defaults = inspect.signature(env.YanDogEnv.__init__).parameters
    assert CONDITIONS["randomize"] is defaults["randomize"].default is True
    assert CONDITIONS["snr_db"] == defaults["snr_db"].default == DEFAULT_SNR_DB
    assert CONDITIONS["demo_voices"] == CUE_SPLIT_OF_MODE["demo"] == CUE_SPLIT_OF_MODE["corrected"]
    assert CONDITIONS["eval_voices"] == CUE_SPLIT_OF_MODE["try"]
    assert tuple(CONDITIONS["floor_friction"]) == env.FLOOR_FRICTION_RANGE
    assert tuple(CONDITIONS["cue_time_s"]) == env.CUE_TIME_RANGE_S


def test_bootstrap_ci_is_exact_when_nothing_varies_and_covers_the_mean():
    rng = np.random.default_rng(1)
    assert bootstrap_ci([[1, 1, 1], [1, 1]], 200, rng) == (1.0, 1.0, 1.0)
    per_seed = [episode_outcomes(r, 20) for r in (0.9, 0.6, 0.8, 1.0, 0.7)]
    mean, lo, hi = bootstrap_ci(per_seed, 2000, rng)
    assert mean == pytest.approx(0.8) and lo < mean < hi and 0.0 <= lo and hi <= 1.0
    # a seed's spread counts: the same mean from one seed with 100 episodes is tighter than from 5 seeds
    _, lo1, hi1 = bootstrap_ci([episode_outcomes(0.8, 100)], 2000, rng)
    assert hi1 - lo1 < hi - lo


def test_bootstrap_resamples_seeds_then_episodes_within_each():
    # two seeds, all or nothing: seed resampling alone gives replicates 0, 0.5, 1 -> interval [0, 1]
    assert bootstrap_ci([[0] * 10, [1] * 10], 2000, np.random.default_rng(0))[1:] == (0.0, 1.0)
    # one seed: only the episodes vary; the interval is about the binomial one (0.5 +- 0.22 for n = 20)
    _, lo, hi = bootstrap_ci([episode_outcomes(0.5, 20)], 4000, np.random.default_rng(0))
    assert 0.2 < lo < 0.35 and 0.65 < hi < 0.8
    with pytest.raises(ValueError):
        bootstrap_ci([], 10)
    with pytest.raises(ValueError):
        bootstrap_ci([[1], []], 10)


def test_mean_over_groups_and_ahead():
    mean, lo, hi = bootstrap_mean_ci([[[1] * 10] * 3, [[0] * 10] * 3], 500, np.random.default_rng(0))
    assert (mean, lo, hi) == (0.5, 0.5, 0.5)
    assert episode_outcomes(0.35, 20) == [1] * 7 + [0] * 13
    assert ahead((0.9, 0.85, 0.95), (0.7, 0.6, 0.8)) and not ahead((0.9, 0.75, 0.95), (0.7, 0.6, 0.8))


def test_matched_baselines_are_within_ten_percent_of_yan_at_the_teaching_size():
    from bench.few_shot import POLICIES, session_config
    from yan_dog.teach_setup import build_policy

    yan_config = build_policy(session_config("yan", 0, 1.0)).config
    sizes = matched_baselines(yan_config, POLICIES)
    target = sizes["yan"]["params"]
    assert target == param_count("yan", yan_config) > 0
    for policy in POLICIES:
        assert abs(sizes[policy]["params"] - target) <= TOLERANCE * target, (policy, sizes)
    # the counts are those of the policies the bench builds (real weights, not the meta device)
    gru = build_policy(session_config("gru", 0, 1.0, sizes["gru"]["overrides"]))
    assert sum(p.numel() for p in gru.parameters()) == sizes["gru"]["params"]
    # only the backbone's width moved: the tokenizers and the head are Yan's
    yan = build_policy(session_config("yan", 0, 1.0))
    for part in ("encoder", "head"):
        assert (sum(p.numel() for p in getattr(gru, part).parameters())
                == sum(p.numel() for p in getattr(yan, part).parameters()))


def test_a_wider_gru_keeps_its_outputs_at_d_model_and_its_step_equals_its_forward():
    import torch

    from yan_policy.policies.config import PolicyConfig
    from yan_policy.policies.gru.modeling_gru import GRUBackbone

    torch.manual_seed(0)
    cfg = PolicyConfig.from_dict({"d_model": 32, "gru": {"hidden_size": 48}})
    gru = GRUBackbone(cfg).double()
    x = torch.randn(2, 5, 32, dtype=torch.float64)  # (B, T, D)
    state = gru.initial_state(2, torch.float64)
    assert state["gru.h"].shape == (cfg.n_layers, 2, 48)
    y, final, _ = gru(x, state)
    assert y.shape == (2, 5, 32)
    for t in range(5):
        step_y, state = gru.step(x[:, t], state)
        torch.testing.assert_close(step_y, y[:, t])
    torch.testing.assert_close(state["gru.h"], final["gru.h"])
    with pytest.raises(ValueError, match="hidden_size"):
        PolicyConfig.from_dict({"gru": {"hidden_size": -1}})
