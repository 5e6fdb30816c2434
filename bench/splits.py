"""The frozen dev / test split of every evaluation, defined here and nowhere else.

**dev** is what every choice is tuned on; **test** is run only for the final table of a change and never
used to choose anything (DESIGN.md §7). A bench takes `--split dev|test`, records `"split"` in its JSON and
refuses to mix them (`bench/few_shot.py`).

What a split fixes:
- `train_seeds`: the policy's initialisation and the learner's batch sampling (`SessionConfig.seed`).
- the episodes' sim seeds, through `episode_offset(seed)` = 1000 * seed: demonstrations run on
  `DEMO_SEED_BASE + offset + i`, corrected tries on `TRY_SEED_BASE + offset + j`, evaluation tries on
  `EVAL_SEED_BASE + offset + i` (single skills), `+ 500 + i` (right after each skill of the multi-skill
  part) and `+ 700 + i` (after all of them), i < `eval_episodes` (`yan_dog.session`). An episode's seed
  draws everything the env randomises through `np_random`: spawn pose and yaw, ball place, floor
  friction, light, camera and audio noise level, cue time, and the speaker of a spoken cue.
- `conditions`: what is the same in every episode (the env's settings, checked against `sim` by the tests).

Why these seeds: the project's tests and the benches before the split used training seeds 0, 1, 2 (sim
offsets 0 to 2999) and the fixed offsets 500 and 700. dev takes 10-14 (sim offsets 10000-14999) and test
30-34 (30000-34999): far from those, and dev can grow up to seed 29 without touching test. Offsets stay
below 50000, so demonstrations (100000 + offset) never reach the tries' base (150000) and tries never reach
evaluation's (200000).
"""

from __future__ import annotations

from dataclasses import dataclass, field

EPISODE_OFFSET_PER_SEED = 1000  # sim seeds of one training seed: [offset, offset + 1000)
MAX_EVAL_EPISODES = 200  # single-skill evals use offset + [0, 200), the multi-skill part + 500 and + 700
MAX_OFFSET = 50_000  # DEMO_SEED_BASE + offset stays below TRY_SEED_BASE (and tries below EVAL_SEED_BASE)
RESERVED_SEEDS = {"dev": range(10, 30), "test": range(30, 50)}  # every seed a split may ever use

# The same conditions on both splits (test measures the task dev tuned for, on scenes it never saw):
CONDITIONS = {
    "randomize": True,  # sim.env.YanDogEnv's domain randomisation, drawn from each episode's seed
    "snr_db": 20.0,  # cue-to-noise ratio (sim.microphone.DEFAULT_SNR_DB, the env's default)
    "demo_voices": "demo",  # spoken cues in demonstrations and corrected tries: sim.speech.DEMO_SPEAKERS
    "eval_voices": "eval",  # in tries the robot makes alone: EVAL_SPEAKERS, voices no demonstration uses
    "floor_friction": [0.7, 1.1],  # uniform per episode (sim.env.FLOOR_FRICTION_RANGE)
    "cue_time_s": [0.2, 0.6],  # uniform per episode (sim.env.CUE_TIME_RANGE_S)
}


@dataclass(frozen=True)
class Split:
    """One split: its training seeds, evaluation episodes per seed and conditions (see the module doc)."""

    name: str
    train_seeds: tuple[int, ...]
    eval_episodes: int = 20
    conditions: dict = field(default_factory=lambda: dict(CONDITIONS))

    def __post_init__(self) -> None:
        check_seeds(self.name, self.train_seeds)
        if not 1 <= self.eval_episodes <= MAX_EVAL_EPISODES:
            raise ValueError(f"eval_episodes must be in [1, {MAX_EVAL_EPISODES}], got {self.eval_episodes}")

    def to_dict(self) -> dict:
        return {"name": self.name, "train_seeds": list(self.train_seeds),
                "eval_episodes": self.eval_episodes,
                "episode_offsets": [episode_offset(s) for s in self.train_seeds],
                "conditions": self.conditions}


def episode_offset(seed: int) -> int:
    """The sim seed offset of training seed `seed`'s demonstrations, tries and evaluations."""
    return EPISODE_OFFSET_PER_SEED * seed


def split_of_seed(seed: int) -> str | None:
    """"dev" or "test" if `seed` is reserved for that split, else None (e.g. the tests' 0, 1, 2)."""
    return next((name for name, seeds in RESERVED_SEEDS.items() if seed in seeds), None)


def check_seeds(split: str, seeds) -> None:
    """ValueError unless every seed in `seeds` may run under `split`: test runs only its own seeds; dev may
    also run unreserved ones (a quick look with seed 0), never a test seed."""
    if split not in RESERVED_SEEDS:
        raise ValueError(f"split must be one of {sorted(RESERVED_SEEDS)}, got {split!r}")
    for seed in seeds:
        owner = split_of_seed(seed)
        if owner not in (split, None if split == "dev" else split):
            raise ValueError(f"seed {seed} is not a {split} seed (it belongs to {owner or 'no split'})")
        if not 0 <= episode_offset(seed) < MAX_OFFSET:
            raise ValueError(f"seed {seed}: its sim offset {episode_offset(seed)} is outside "
                             f"[0, {MAX_OFFSET})")


SPLITS: dict[str, Split] = {
    "dev": Split("dev", (10, 11, 12, 13, 14)),
    "test": Split("test", (30, 31, 32, 33, 34)),
}
