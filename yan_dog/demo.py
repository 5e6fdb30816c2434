"""`yan-dog demo` (`make demo`): a full teaching session in simulation, with a report people can read.

1. record the untrained robot on each skill's cue (before videos);
2. teach each skill from a few scripted demonstrations, each with its own cue (a whistle, a clap, or a
   spoken word: `DEMO_SPOKEN_CUES`), learning during and after the demonstrations; evaluate it right
   after it was taught;
3. evaluate every skill again, cue by cue, once all are taught (retention, cue selection);
4. record the taught robot (after videos).

`run_demo` does all of that and returns a `DemoResult`; the videos (before/after MP4s) and the skill library
are written into demo_out/ as it goes. `yan_dog.report.write_demo_report` then writes the report from the
result: report.md, report.json, learning curves and success plots (PNG).
"""

from __future__ import annotations

import shutil
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sim
from sim.video import annotate, write_mp4

if TYPE_CHECKING:
    from yan_dog.session import TeachReport

DEFAULT_DEMO_SKILLS = ["sit", "lie_down", "walk_forward", "turn_left"]
# Skills the demo asks for by a spoken word (sim.speech: varied espeak-ng voices, held-out ones in
# evaluation) instead of their whistle or clap.
DEMO_SPOKEN_CUES = {"sit": "sit"}
VIDEO_EVERY_TICKS = 2  # 25 fps videos from the 50 Hz control loop
VIDEO_SEED_OFFSET = 9_000  # videos use their own held-out seeds
RIGHT_AFTER_SEED_OFFSET = 5_000  # evaluation right after teaching uses other held-out seeds


def _video(session, skill: str, path: Path, caption: str) -> bool:
    res = session.try_skill(skill, seed=VIDEO_SEED_OFFSET, render_every=VIDEO_EVERY_TICKS)
    frames = [annotate(f, f"{caption} | cue: {sim.skills.get(skill).cue}") for f in res.frames]
    write_mp4(frames, path, fps=session.env.unwrapped.control_hz / VIDEO_EVERY_TICKS)
    return res.success


@contextmanager
def _timed(phases: dict[str, float], name: str):
    """Add the wall time of the block to phases[name] (s)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - start


@dataclass
class DemoResult:
    """What one demo run measured, per skill (keys: the skills, in teaching order) and as a whole."""

    out: Path  # the output folder: the videos and library/ are already there
    policy: str
    skills: list[str]
    cues: dict[str, str]
    demos_per_skill: int
    eval_episodes: int  # per skill and evaluation
    eval_workers: int
    library_version: str | None
    wall_seconds: float
    phase_seconds: dict[str, float]  # wall s per phase: before_videos, teaching, evaluation, after_videos
    teach: dict[str, TeachReport]
    right_after: dict[str, dict]  # `TeachSession.evaluate` as soon as the skill was taught
    final: dict[str, dict]  # `TeachSession.evaluate` once every skill was taught
    before_video_success: dict[str, bool]
    after_video_success: dict[str, bool]


def _speak_cues(skills: list[str], stack: ExitStack) -> None:
    """Cue the skills of DEMO_SPOKEN_CUES by their words until `stack` closes (without espeak-ng: a warning,
    and they keep their own cues)."""
    from sim.speech import espeak_available
    from yan_dog.cli import cued_skill

    words = {s: w for s, w in DEMO_SPOKEN_CUES.items() if s in skills}
    if words and not espeak_available():
        print(f"warning: espeak-ng is missing (make install), so {', '.join(words)} keep their own cues "
              "instead of spoken words", file=sys.stderr)
        return
    for skill, word in words.items():
        stack.enter_context(cued_skill(skill, say=word))


def _open_view(session, sink: str):
    """The session's live view (`yan_dog.live_view.view_session`); a bad sink ends the demo with one line."""
    from yan_dog.live_view import view_session

    try:
        return view_session(session, sink)
    except ValueError as e:
        raise SystemExit(f"yan-dog demo --view: {e}") from None


def run_demo(args) -> DemoResult:
    """Teach and evaluate `args.skills` (the `yan-dog demo` options) in one session, recording the videos
    and the library into `args.out`."""
    from yan_dog.cli import teach_with_progress
    from yan_dog.session import TeachSession
    from yan_dog.teach_setup import SessionConfig
    from yan_policy.data.library import SkillLibrary

    out: Path = args.out
    skills = args.skills or DEFAULT_DEMO_SKILLS
    for s in skills:
        sim.skills.get(s)
    out.mkdir(parents=True, exist_ok=True)
    lib_dir = out / "library"
    if lib_dir.exists():
        shutil.rmtree(lib_dir)  # the demo always starts from a robot that knows nothing
    t_start = time.perf_counter()
    view_sink = getattr(args, "view", None)  # `--view`: a live view in Rerun (yan_dog.live_view)
    if view_sink:
        args.eval_workers = 1  # the view shows the episodes this process runs: evaluate here too
    session = TeachSession(
        SessionConfig(policy=args.policy, learn_seconds=args.learn_seconds, seed=args.seed,
                      eval_workers=args.eval_workers),
        SkillLibrary(lib_dir),
    )
    spoken = ExitStack()  # DEMO_SPOKEN_CUES, for this run only
    _speak_cues(skills, spoken)
    cues = {s: sim.skills.get(s).cue for s in skills}
    view = None
    try:
        view = _open_view(session, view_sink) if view_sink else None
        print(
            f"demo: teaching {', '.join(skills)} with {args.demos} demonstrations each ({args.policy} policy)"
        )
        phases: dict[str, float] = {}  # wall seconds per phase, for the report
        with _timed(phases, "before_videos"):
            before = {s: _video(session, s, out / f"before_{s}.mp4", f"before teaching: {s}") for s in skills}

        reports, right_after = {}, {}
        for skill in skills:
            # Every skill is demonstrated in the same randomised scenes, so only the cue tells the skills
            # apart (docs/experiments.md, 2026-11-23: same demo scenes).
            with _timed(phases, "teaching"):
                reports[skill] = teach_with_progress(session, skill, args.demos, seed_offset=0)
            with _timed(phases, "evaluation"):
                right_after[skill] = session.evaluate(
                    skill, args.eval_episodes, seed_offset=RIGHT_AFTER_SEED_OFFSET
                )
            print(f"  {skill}: success right after teaching {right_after[skill]['success_rate']:.2f}")
        version = session.save()

        final = {}
        for skill in skills:
            with _timed(phases, "evaluation"):
                final[skill] = session.evaluate(skill, args.eval_episodes)
            print(
                f"  {skill}: final success {final[skill]['success_rate']:.2f} "
                f"(cue selected correctly {final[skill]['cue_correct_rate']:.2f})"
            )
        with _timed(phases, "after_videos"):
            after = {s: _video(session, s, out / f"after_{s}.mp4", f"after teaching: {s}") for s in skills}
    finally:
        if view is not None:
            view.close()
        session.close()
        spoken.close()

    return DemoResult(
        out=out, policy=args.policy, skills=skills, cues=cues,
        demos_per_skill=args.demos, eval_episodes=args.eval_episodes, eval_workers=args.eval_workers,
        library_version=version, wall_seconds=time.perf_counter() - t_start, phase_seconds=phases,
        teach=reports, right_after=right_after, final=final, before_video_success=before,
        after_video_success=after,
    )
