"""`yan-dog`: teach the simulated dog new tricks from a few demonstrations, evaluate them, run the demo.

    yan-dog teach --skill sit --demos 3           # demonstrate, learn (<= --learn-seconds CPU), save
    yan-dog teach --skill sit --say "sit"         # ... asked for by a spoken word (or --cue-wav PATH)
    yan-dog eval --skill sit --episodes 20        # success rate on held-out seeds, on the skill's cue
    yan-dog skills                                # what the library knows
    yan-dog export --skill sit --out sit.yanskill # share a skill with another robot
    yan-dog import sit.yanskill                   # ... and learn it there
    yan-dog demo                                  # the full teaching session, report in demo_out/
    yan-dog demo --view web                       # ... watched live in Rerun (spawn, web or FILE.rrd)
    yan-dog teach --from-bag session.mcap         # learn the demonstrations of a recorded ROS 2 session
    yan-dog up sim                                # the ROS 2 sim graph without the ROS 2 CLI (Ctrl-C stops)
    yan-dog up sim panel:=true                    # ... with the browser teach panel on http://127.0.0.1:8765/
    yan-dog panel --host 0.0.0.0 --token SECRET   # the panel alone, over a running graph, for a phone
    yan-dog dataset export --format lerobot OUT   # every demonstration as a LeRobotDataset v3.0
    yan-dog dataset import PATH                   # a LeRobotDataset's episodes as demonstrations
    yan-dog --skills my_tricks.py teach --skill wave   # your own skill, from your own Python file

The skill library lives in --library (default: $YAN_DOG_LIBRARY or ~/.local/share/yan-dog/library).
`--skills FILE [FILE ...]` (before the command) loads skill and cue plug-ins (yan_dog/plugins.py,
examples/my_tricks.py), as do $YAN_DOG_PLUGINS and installed packages' `yan_dog.plugins` entry points.
Bad input (a name, a number, a file) ends in one line on stderr, `<command>: error: <what>`, and exit
status 2 for a malformed command line, 1 otherwise; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from tqdm import tqdm

from yan_dog.errors import UserError, one_line

DEFAULT_LIBRARY = Path(os.environ.get("YAN_DOG_LIBRARY", Path.home() / ".local/share/yan-dog/library"))
# evaluation episodes run side by side in this many forked processes (`SessionConfig.eval_workers`)
DEFAULT_EVAL_WORKERS = min(2, os.cpu_count() or 1)


def _session_config(args, spoken_cue: bool = False):
    """The command's SessionConfig (with `spoken_cue`, the learner settings of a skill asked for by a word:
    `yan_dog.spoken_commands.SPOKEN_CUE_LEARNER`); a bad number in it is a UserError (SessionConfig
    validates itself)."""
    from yan_dog.spoken_commands import spoken_cue_learner
    from yan_dog.teach_setup import SessionConfig
    from yan_policy.training.learner import LearnerConfig

    try:
        return SessionConfig(
            policy=getattr(args, "policy", "yan"),
            learn_seconds=getattr(args, "learn_seconds", 60.0),
            corrected_tries=getattr(args, "tries", 0),
            seed=getattr(args, "seed", 0),
            eval_workers=getattr(args, "eval_workers", 1),
            learner=spoken_cue_learner(LearnerConfig()) if spoken_cue else LearnerConfig(),
        )
    except ValueError as e:
        raise UserError(one_line(e)) from None


def _session(args, library_path: Path | None, spoken_cue: bool = False):
    from yan_dog.session import TeachSession
    from yan_policy.data.library import SkillLibrary

    config = _session_config(args, spoken_cue)
    library = SkillLibrary(library_path) if library_path is not None else None
    return TeachSession(config, library, keep_failed=getattr(args, "keep_failed", False))


def _progress_callback(bar: tqdm):
    def update(log: dict) -> None:
        bar.n = min(bar.total, round(log["train_seconds"] - bar.start_seconds, 1))
        bar.set_postfix(loss=f"{log['action_loss']:.3f}", steps=log["step"])
        bar.refresh()

    return update


def teach_with_progress(session, skill: str, demos: int, seed_offset: int = 0):
    """Teach with two progress bars: demonstrations, then CPU seconds of learning."""
    bar = tqdm(total=session.config.learn_seconds, desc=f"learning {skill}", unit="cpu-s", leave=True)
    bar.start_seconds = session.learner.train_seconds
    report = session.teach(skill, demos, seed_offset=seed_offset, progress=_progress_callback(bar))
    bar.n = bar.total
    bar.close()
    return report


@contextmanager
def cued_skill(skill: str, say: str | None = None, cue_wav: Path | None = None) -> Iterator[str]:
    """While in the block, `skill` is asked for by the word `say` (said by varied espeak-ng voices,
    `sim.speech`) or by the recording `cue_wav` (a WAV file, or a folder of takes of one word); with
    neither, by its own cue. Yields the cue's name. Bad text, a bad file or no espeak-ng: one line."""
    import dataclasses

    import sim
    from sim.speech import ensure_spoken_cue

    original = sim.skills.get(skill)
    if say is None and cue_wav is None:
        yield original.cue
        return
    if say is not None and cue_wav is not None:
        raise UserError("give --say WORD or --cue-wav PATH, not both")
    try:
        if say is not None:
            cue = ensure_spoken_cue(say)
        else:
            cue = "wav:" + "_".join(Path(cue_wav).stem.split())  # a cue name has no spaces
            sim.register_wav_cue(cue, cue_wav, overwrite=True)
    except (RuntimeError, ValueError, TypeError, OSError) as e:
        raise UserError(one_line(e)) from None
    sim.skills.register(dataclasses.replace(original, cue=cue), overwrite=True)
    try:
        yield cue
    finally:
        sim.skills.register(original, overwrite=True)


def cmd_teach(args) -> int:
    import sim

    if args.from_bag is not None:
        if args.say is not None or args.cue_wav is not None:
            raise UserError("teach: --say / --cue-wav teach in sim; a bag keeps its recorded cue")
        return cmd_teach_from_bag(args)
    if args.skill is None:
        raise UserError("teach: --skill is required (or --from-bag PATH)")
    sim.skills.get(args.skill)
    spoken = args.say is not None or args.cue_wav is not None  # a word: it also learns to ignore others
    with cued_skill(args.skill, args.say, args.cue_wav) as cue:
        session = _session(args, args.library, spoken_cue=spoken)
        try:
            print(f"teaching {args.skill!r} from {args.demos} demonstrations (cue: {cue})")
            report = teach_with_progress(session, args.skill, args.demos, seed_offset=args.seed * 1000)
            version = session.save()
            print(
                f"learned {args.skill!r}: {report.steps} steps in {report.learn_seconds:.1f} CPU s, "
                f"final loss {report.curve[-1]['action_loss']:.3f}; "
                f"saved library version {version} in {args.library}"
                + (f"; {report.demos_discarded} failed demonstrations discarded and repeated"
                   if report.demos_discarded else "")
            )
        finally:
            session.close()
    return 0


def cmd_teach_from_bag(args) -> int:
    """Learn the demonstrations recorded in a ROS 2 session bag, as the brain saw them, into the library."""
    from robots.actions import HYBRID_ACTION_DIM
    from yan_dog.bag import bag_files, bag_message_count, episodes_from_bag
    from yan_dog.streams import ObsSpec
    from yan_dog.teach_setup import build_learner
    from yan_policy.data.library import SkillLibrary

    path = args.from_bag
    try:
        bag_files(path)  # an .mcap file or a rosbag2 folder of them (`ros2 bag record -s mcap`)
    except (FileNotFoundError, ValueError) as e:
        raise UserError(one_line(e)) from None
    library = SkillLibrary(args.library)
    config = _session_config(args)
    learner = build_learner(config, library, load_demos=False)
    spec = ObsSpec.from_tokenizer(learner.policy.config.tokenizer)
    with tqdm(total=bag_message_count(path), desc=f"reading {path.name}", unit="msg") as bar:
        progress = lambda n: bar.update(n - bar.n)  # noqa: E731 (messages read so far)
        episodes = episodes_from_bag(path, skill=args.skill, spec=spec, progress=progress)
    if not episodes:
        which = f"of {args.skill!r} " if args.skill else ""
        raise UserError(f"{path} holds no complete demonstration {which}(demo_start ... demo_stop)")
    wrong = sorted({e.action.shape[1] for e in episodes} - {HYBRID_ACTION_DIM})
    if wrong:
        raise UserError(f"{path}: teach actions must be {HYBRID_ACTION_DIM}-D, got {wrong}")
    for ep in library.demos() if library.skills else []:  # rehearsed while the new demonstrations are learned
        learner.add_episode(ep)  # (the learner stores it at the policy's camera size)
    skills = sorted({e.skill for e in episodes})
    for ep in episodes:
        learner.add_episode(ep)
        library.add_demo(ep)
    print(f"{len(episodes)} demonstrations of {', '.join(skills)} in {path.name} "
          f"({sum(len(e) for e in episodes)} ticks)")  # fmt: skip
    learner.focus = skills[0] if len(skills) == 1 else None
    bar = tqdm(total=args.learn_seconds, desc=f"learning {', '.join(skills)}", unit="cpu-s")
    bar.start_seconds = learner.train_seconds
    logs = learner.train_for(args.learn_seconds, max_steps=args.learn_steps, callback=_progress_callback(bar))
    bar.close()
    for skill in skills:
        library.skills[skill].learn_seconds += learner.train_seconds - bar.start_seconds
    version = library.commit(learner.latest()[1])
    loss = f", final loss {logs[-1]['action_loss']:.3f}" if logs else ""
    print(f"learned {', '.join(skills)}: {len(logs)} steps{loss}; saved version {version} in {args.library}")
    return 0


def cmd_up(args) -> int:
    """Run a ROS 2 graph (sim, robot or teach) without the ROS 2 CLI."""
    try:
        from yan_dog_ros.runner import parse_overrides, run
    except ImportError as e:  # rclpy or the yan_dog_ros package missing
        raise UserError(f"yan-dog up needs rclpy and the yan_dog_ros package (make install): {e}") from None
    try:
        overrides = parse_overrides(args.args)
        return run(args.graph, overrides, separate_processes=args.processes, duration_s=args.duration)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(f"up: {one_line(e)}") from None


def cmd_panel(args) -> int:
    """Serve the browser teach panel on a running graph (e.g. `yan-dog up sim` in another terminal)."""
    try:
        from yan_dog_ros.panel_node import main as panel_main
    except ImportError as e:  # rclpy, the yan_dog_ros package or fastapi missing
        raise SystemExit(f"yan-dog panel: error: it needs rclpy, yan_dog_ros and fastapi (make install): "
                         f"{e}") from None
    from yan_dog.panel_server import PanelConfig

    try:
        PanelConfig(host=args.host, port=args.port, token=args.token)
    except ValueError as e:
        raise SystemExit(f"yan-dog panel: error: {e}") from None
    ros_args = ["--ros-args", "-p", f"host:={args.host}", "-p", f"port:={args.port}"]
    if args.token:
        ros_args += ["-p", f"token:={args.token}"]
    panel_main(["yan-dog-panel", *ros_args, *args.ros_args])
    return 0


def _taught_word(session, skill: str) -> str | None:
    """The word `skill` was taught with in this library (`teach --say`): `eval` asks for it that way."""
    from sim.speech import spoken_text

    record = session.library.skills.get(skill) if session.library is not None else None
    return spoken_text(record.cue) if record is not None and record.cue else None


def cmd_eval(args) -> int:
    import sim

    sim.skills.get(args.skill)
    if args.json is not None and not args.json.parent.is_dir():
        raise UserError(f"--json: no folder {args.json.parent} to write {args.json.name} in")
    session = _session(args, args.library)
    try:
        if args.skill not in session.known_skills():
            print(
                f"warning: {args.skill!r} was never taught to this library; evaluating anyway",
                file=sys.stderr,
            )
        word = args.say or (None if args.cue_wav else _taught_word(session, args.skill))
        with cued_skill(args.skill, word, args.cue_wav):
            bar = tqdm(total=args.episodes, desc=f"eval {args.skill}", unit="ep")
            result = session.evaluate(args.skill, args.episodes, on_episode=lambda r: bar.update(1))
            bar.close()
        print(f"{args.skill}: success {result['success_rate']:.2f} over {args.episodes} held-out episodes")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
    finally:
        session.close()
    return 0


def cmd_skills(args) -> int:
    from yan_policy.data.library import SkillLibrary
    from yan_policy.policies.registry import load_policy

    lib = SkillLibrary(args.library)
    if lib.load(load_policy) is None:
        print(f"the library at {args.library} is empty")
    else:
        print(f"library {args.library} (version {lib.version})")
        for name, rec in lib.skills.items():
            print(f"  {name:14s} cue={rec.cue:16s} demos={len(rec.demos):2d} "
                  f"learned={rec.learn_seconds:6.1f} CPU s")
    print(f"skills to teach: {', '.join(_teachable_skills())}")
    return 0


def _teachable_skills() -> list[str]:
    """The skills `teach` knows here (sim.skills), a plug-in's marked with its file."""
    import sim
    from yan_dog.plugins import loaded_plugins

    source = {skill: p.source for p in loaded_plugins() for skill in p.skills}
    return [f"{name} ({source[name]})" if name in source else name for name in sim.skills.names()]


def cmd_export(args) -> int:
    from yan_policy.data.library import SkillLibrary
    from yan_policy.policies.registry import load_policy

    if not args.library.is_dir():
        raise UserError(f"no skill library at {args.library}")
    if not args.out.parent.is_dir():
        raise UserError(f"--out: no folder {args.out.parent} to write {args.out.name} in")
    lib = SkillLibrary(args.library)
    lib.load(load_policy)
    if args.skill not in lib.skills:
        raise UserError(f"the library at {args.library} holds no skill {args.skill!r} "
                        f"(it holds: {', '.join(lib.skills) or 'none'})")
    path = lib.export_skill(args.skill, args.out)
    print(f"exported {args.skill!r} to {path}")
    return 0


def cmd_import(args) -> int:
    from robots.actions import HYBRID_ACTION_DIM
    from yan_policy.data.library import SkillLibrary

    if not args.file.is_file():
        raise UserError(f"skill file {args.file} not found")
    SkillLibrary.read_skill_file(args.file)  # a damaged or foreign file: LibraryError before the session
    session = _session(args, args.library)
    try:
        episodes = session.library.import_skill(args.file, expect_action_dim=HYBRID_ACTION_DIM)
        skill = episodes[0].skill
        for ep in episodes:
            session.learner.add_episode(ep)
        session.learner.focus = skill
        bar = tqdm(total=session.config.learn_seconds, desc=f"learning {skill}", unit="cpu-s")
        bar.start_seconds = session.learner.train_seconds
        session.learner.train_for(session.config.learn_seconds, callback=_progress_callback(bar))
        bar.close()
        print(f"imported {skill!r} ({len(episodes)} demonstrations); saved version {session.save()}")
    finally:
        session.close()
    return 0


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def cmd_dataset_export(args) -> int:
    """Every demonstration in the skill library, as a LeRobotDataset v3.0 folder (yan_dog.lerobot_dataset)."""
    from yan_dog.lerobot_dataset import export_lerobot
    from yan_policy.data.library import LibraryError, SkillLibrary
    from yan_policy.policies.registry import load_policy

    if not args.library.is_dir():
        raise SystemExit(f"yan-dog dataset export: error: no skill library at {args.library}")
    library = SkillLibrary(args.library)
    try:
        library.load(load_policy)
        episodes = library.demos() if library.skills else []
        if not episodes:
            raise SystemExit(f"yan-dog dataset export: error: the library at {args.library} holds no demos")
        path = export_lerobot(episodes, args.out)
    except (ValueError, OSError, LibraryError) as e:
        raise SystemExit(f"yan-dog dataset export: error: {_one_line(e)}") from None
    print(f"exported {len(episodes)} demonstrations of {', '.join(library.skills)} "
          f"({sum(len(ep) for ep in episodes)} frames) to {path} as a LeRobotDataset v3.0")
    return 0


def cmd_dataset_import(args) -> int:
    """Add a LeRobotDataset's episodes to the skill library as demonstrations (in the hybrid action space),
    and with --learn-seconds learn them now."""
    from robots import TrotController
    from yan_dog.lerobot_dataset import as_hybrid, import_lerobot
    from yan_dog.teach_setup import SessionConfig, build_learner, build_policy
    from yan_policy.data.library import LibraryError, SkillLibrary

    try:
        episodes = import_lerobot(args.path, skill=args.skill, cue=args.cue, camera=args.camera)
        stand = TrotController().stand_targets()  # joint targets -> offsets from the gait's standing pose
        episodes = [as_hybrid(ep, stand) for ep in episodes]
        library = SkillLibrary(args.library)
        config = SessionConfig(policy=args.policy, seed=args.seed)
        learner = build_learner(config, library) if args.learn_seconds > 0 else None
        policy = learner.latest()[1] if learner else build_policy(config, library)
    except (ValueError, OSError, LibraryError) as e:
        raise SystemExit(f"yan-dog dataset import: error: {_one_line(e)}") from None
    hz, dim = policy.config.tokenizer.control_hz, policy.config.action_dim
    if episodes[0].control_hz != hz or episodes[0].action.shape[1] != dim:
        first = episodes[0]
        raise SystemExit(f"yan-dog dataset import: error: {args.path} has {first.action.shape[1]}-D actions "
                         f"at {first.control_hz:g} fps; the library's policy learns {dim}-D at {hz:g} Hz")
    skills = list(dict.fromkeys(ep.skill for ep in episodes))
    for ep in episodes:
        library.add_demo(ep)
        if learner is not None:
            learner.add_episode(ep)
    if learner is not None:
        learner.focus = skills[0] if len(skills) == 1 else None
        bar = tqdm(total=args.learn_seconds, desc=f"learning {', '.join(skills)}", unit="cpu-s")
        bar.start_seconds = learner.train_seconds
        learner.train_for(args.learn_seconds, max_steps=args.learn_steps, callback=_progress_callback(bar))
        bar.close()
        for skill in skills:
            library.skills[skill].learn_seconds += learner.train_seconds - bar.start_seconds
        policy = learner.latest()[1]
    version = library.commit(policy)
    print(f"imported {len(episodes)} demonstrations of {', '.join(skills)} "
          f"({sum(len(ep) for ep in episodes)} ticks) from {args.path}; "
          f"saved version {version} in {args.library}")
    return 0


def cmd_demo(args) -> int:
    from yan_dog.demo import run_demo
    from yan_dog.report import write_demo_report

    _session_config(args)  # bad numbers: one line now, not after the first skill
    write_demo_report(run_demo(args))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse's parser with a one-line error: `yan-dog teach: error: <what> (see yan-dog teach --help)`."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def _split_plugin_files(argv: list[str], commands) -> list[str]:
    """`--skills A B teach ...` -> `--skills A --skills B teach ...`: the global option takes files up to
    the command (argparse alone would take the command for a file); after it, `--skills` is the
    command's own (`demo --skills sit wave`)."""
    out, i = [], 0
    while i < len(argv) and argv[i] not in commands:
        out.append(argv[i])
        i += 1
        if out[-1] == "--skills":
            files = 0
            while i < len(argv) and not argv[i].startswith("-") and argv[i] not in commands:
                out += ["--skills"] * (files > 0) + [argv[i]]
                i, files = i + 1, files + 1
    return out + argv[i:]


def _load_plugins(files: list[str]) -> None:
    """Load $YAN_DOG_PLUGINS's files, `files` and the installed plug-ins; export `files` in
    $YAN_DOG_PLUGINS, so the processes this command starts (workers, nodes) load them too."""
    from yan_dog.plugins import export_plugin_paths, load_plugins, plugin_paths_from_env

    load_plugins([*plugin_paths_from_env(), *files])
    if files:
        export_plugin_paths(files)


def _import_pybullet_quietly() -> None:
    """pybullet's C module prints "pybullet build time: <date>" on stderr when it is imported: imported
    here with stderr on /dev/null, so that a command's error is the one line on stderr."""
    if "pybullet" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            try:
                import pybullet  # noqa: F401
            except ImportError:  # the robot's image may have none: then nothing prints it either
                pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="yan-dog", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skills", action="append", dest="plugins", default=[], metavar="FILE",
                    help="a Python file of your own skills and cues to load (FILE [FILE ...], before the "
                    "command; e.g. examples/my_tricks.py); also $YAN_DOG_PLUGINS, os.pathsep-separated")
    sub = ap.add_subparsers(dest="command", required=True)
    ap.commands = sub.choices  # what _split_plugin_files stops at

    def common(p, library=True):
        if library:
            p.add_argument("--library", type=Path, default=DEFAULT_LIBRARY, help="skill library folder")
        p.add_argument("--policy", default="yan", choices=["yan", "transformer", "gru", "mlp"])
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")

    def eval_workers(p):
        p.add_argument("--eval-workers", type=int, default=DEFAULT_EVAL_WORKERS,
                       help="processes that run the evaluation episodes side by side "
                       f"(default {DEFAULT_EVAL_WORKERS})")

    p = sub.add_parser("teach", help="demonstrate a skill K times in sim (or replay a bag) and learn it")
    p.add_argument("--skill", help="skill to teach (with --from-bag: only this skill's demonstrations)")
    p.add_argument("--from-bag", type=Path, help="learn the demonstrations of a recorded session: an MCAP "
                   "file or a rosbag2 folder of them (ros2 bag record -s mcap)")
    p.add_argument("--learn-steps", type=int, default=None, help="cap on optimizer steps (--from-bag)")
    p.add_argument("--demos", type=int, default=3)
    p.add_argument("--learn-seconds", type=float, default=60.0, help="CPU seconds of learning")
    p.add_argument("--tries", type=int, default=0, help="corrected tries (teacher intervenes)")
    p.add_argument("--keep-failed", action="store_true", help="keep demonstrations that fail their skill's "
                   "check (default: each is reported, discarded and repeated on a new seed)")
    p.add_argument("--say", metavar="WORD", help="ask for the skill by this spoken word or phrase "
                   '(e.g. "sit"), said by varied espeak-ng voices (cue say:WORD); it also learns to hold '
                   "still on other words and sounds")
    p.add_argument("--cue-wav", type=Path, metavar="PATH", help="ask for the skill by your own recording: "
                   "a WAV file, or a folder of WAV takes of one word; it also learns to hold still on "
                   "other sounds")
    common(p)
    p.set_defaults(func=cmd_teach)

    p = sub.add_parser("eval", help="success rate of a skill on held-out seeds")
    p.add_argument("--skill", required=True)
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--json", type=Path)
    p.add_argument("--say", metavar="WORD", help="ask by this spoken word (default: the word the skill was "
                   "taught with, if any), in voices no demonstration used")
    p.add_argument("--cue-wav", type=Path, metavar="PATH", help="ask by this recording (WAV file or folder)")
    eval_workers(p)
    common(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("skills", help="list the skills in the library")
    p.add_argument("--library", type=Path, default=DEFAULT_LIBRARY)
    p.set_defaults(func=cmd_skills)

    p = sub.add_parser("export", help="export a skill to one file")
    p.add_argument("--skill", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--library", type=Path, default=DEFAULT_LIBRARY)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="import an exported skill and learn it")
    p.add_argument("file", type=Path)
    p.add_argument("--learn-seconds", type=float, default=60.0)
    common(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("dataset", help="the library's demonstrations as a LeRobotDataset v3.0, and back")
    dataset = p.add_subparsers(dest="dataset_command", required=True)
    p = dataset.add_parser("export", help="every demonstration in the library, as a dataset folder OUT")
    p.add_argument("out", type=Path, metavar="OUT", help="a new (or empty) folder")
    p.add_argument("--format", choices=["lerobot"], default="lerobot", help="lerobot: LeRobotDataset v3.0")
    p.add_argument("--library", type=Path, default=DEFAULT_LIBRARY)
    p.set_defaults(func=cmd_dataset_export)
    p = dataset.add_parser("import", help="add a LeRobotDataset's episodes to the library as demonstrations")
    p.add_argument("path", type=Path, metavar="PATH", help="a LeRobotDataset v3.0 folder")
    p.add_argument("--skill", help="the skill of every episode (default: from the dataset or its task text)")
    p.add_argument("--cue", help="the cue that asks for it (default: from the dataset)")
    p.add_argument("--camera", help="camera feature (default: observation.images.head, else the first)")
    p.add_argument("--learn-seconds", type=float, default=0.0, help="CPU seconds of learning them now "
                   "(default 0: only add them; the next teach or import rehearses them)")
    p.add_argument("--learn-steps", type=int, default=None, help="cap on optimizer steps")
    common(p)
    p.set_defaults(func=cmd_dataset_import)

    p = sub.add_parser("up", help="run a ROS 2 graph without the ROS 2 CLI (one OS process per node)")
    p.add_argument("graph", choices=["sim", "teach", "robot"], help="graph from yan_dog_ros/graph.py")
    p.add_argument("args", nargs="*", metavar="name:=value", help="launch arguments, as for ros2 launch")
    p.add_argument("--processes", action=argparse.BooleanOptionalAction, default=True,
                   help="one OS process per node or composed brain, as ros2 launch (default); "
                        "--no-processes: all in this one process, simpler to debug, but the simulator and "
                        "the brain then share one interpreter lock and the brain misses control ticks "
                        "(docs/ros2.md)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("panel", help="the browser teach panel over a running graph (yan-dog up sim)")
    p.add_argument("--host", default="127.0.0.1", help="bind address; anything but loopback needs --token")
    p.add_argument("--port", type=int, default=8765, help="http://HOST:PORT/")
    p.add_argument("--token", default="", help="a secret every browser must give (?token=...)")
    p.add_argument("ros_args", nargs="*", metavar="ROS_ARG", help="more --ros-args for panel_node (after --)")
    p.set_defaults(func=cmd_panel)

    p = sub.add_parser("demo", help="teach several skills, evaluate cue by cue, write a report")
    p.add_argument("--out", type=Path, default=Path("demo_out"))
    p.add_argument("--skills", nargs="+", default=None, help="default: sit lie_down walk_forward turn_left")
    p.add_argument("--demos", type=int, default=3)
    p.add_argument("--learn-seconds", type=float, default=60.0)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--view", nargs="?", const="spawn", default=None, metavar="SINK",
                   help="watch it live in Rerun: spawn (a viewer window, the default), web (a browser "
                   "viewer), rerun+http://HOST:9876/proxy (a running viewer) or PATH.rrd (a file); "
                   "evaluation then runs in this process, so the view shows it")
    eval_workers(p)
    common(p, library=False)
    p.set_defaults(func=cmd_demo)
    return ap


def main(argv=None) -> int:
    """Run one command. A user error (`UserError`: plug-in, name, number or file; a refused skill file or
    library; an unknown name in a registry) is `yan-dog: error: <one line>` and exit status 1."""
    from yan_policy.data.library import LibraryError

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(_split_plugin_files(argv, parser.commands))
    for name in ("demos", "episodes", "eval_episodes", "eval_workers", "threads"):
        if getattr(args, name, 1) is not None and getattr(args, name, 1) < 1:
            raise SystemExit(f"yan-dog: error: --{name.replace('_', '-')} must be >= 1")
    library = getattr(args, "library", None)
    if library is not None and library.exists() and not library.is_dir():
        raise SystemExit(f"yan-dog: error: --library {library} is a file, not a skill library folder")
    _import_pybullet_quietly()
    torch.set_num_threads(getattr(args, "threads", 1))
    t0 = time.perf_counter()
    try:
        _load_plugins(args.plugins)
        rc = args.func(args)
    except (UserError, LibraryError) as e:
        raise SystemExit(f"yan-dog: error: {one_line(e)}") from None
    except KeyError as e:  # unknown skill names and the like: one clear line, no traceback
        raise SystemExit(f"yan-dog: error: {one_line(e.args[0])}") from None
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
