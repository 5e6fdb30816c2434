"""User plug-ins (yan_dog/plugins.py): files and entry points register skills and cues that the CLI, child
processes and the bench see; every way a plug-in can be wrong is one line and leaves the registries as
they were; the example plug-in's `wave` skill can be demonstrated and taught for real."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import sim
from robots import skills as skill_specs
from yan_dog import plugins
from yan_dog.cli import main as cli_main
from yan_dog.plugins import PLUGINS_ENV, PluginError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "my_tricks.py"
TINY_CAMERA = (16, 16)  # the checks look at simulator state, not at images
WAVE_SEEDS = range(1000, 1010)  # randomised scenes
STILL_SEED = 1000
# A plug-in that registers a skill spec only (no simulator): quick to load in a child process.
SPEC_PLUGIN = """
from robots.skills import SkillSpec, register
register(SkillSpec("{name}", "click", action_mode="gait", duration_s=3.0, description="a plug-in's skill"))
"""
SIM_PLUGIN = """
import numpy as np
import sim
from robots.poses import SIT_POSE_RAD
from sim.skills import Skill

def teacher(ctx):
    return SIT_POSE_RAD

def check(ctx):
    return bool(ctx.state.base_pos_m[2] < 0.25)

sim.skills.register(Skill("{name}", teacher, check, cue="{cue}", duration_s=3.0, hold_s=0.5))
sim.register_cue("{cue}", np.sin(np.arange(1600) * 0.5))
"""


pytestmark = pytest.mark.usefixtures("clean_plugins")  # tests/conftest.py


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def line_of(text: str, snippet: str) -> int:
    """The 1-based number of the first line of `text` holding `snippet`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if snippet in line)


def registered() -> tuple[list[str], list[str], list[str]]:
    return list(sim.skills.names()), list(skill_specs.names()), list(sim.cue_names())


# --- files ----------------------------------------------------------------------------------------------
def test_a_plugin_file_registers_its_skill_and_cue_once(tmp_path):
    path = write(tmp_path / "tricks.py", SIM_PLUGIN.format(name="tmp_crouch", cue="tmp_beep"))
    (plugin,) = plugins.load_plugins([path])
    assert plugin.skills == ("tmp_crouch",) and plugin.cues == ("tmp_beep",)
    assert "tmp_crouch" in sim.skills.names() and skill_specs.get("tmp_crouch").cue == "tmp_beep"
    assert plugins.load_plugins([tmp_path / "." / "tricks.py"]) == [plugin]  # the same file: not run again
    plugins.unload_plugin(plugin)
    assert "tmp_crouch" not in sim.skills.names() and "tmp_beep" not in sim.cue_names()


def test_the_cli_lists_a_plugins_skill_and_exports_it_to_child_processes(tmp_path, capsys):
    path = write(tmp_path / "spec_only.py", SPEC_PLUGIN.format(name="tmp_roll"))
    other = write(tmp_path / "other.py", SIM_PLUGIN.format(name="tmp_crouch", cue="tmp_beep"))
    argv = ["--skills", str(path), str(other), "skills", "--library", str(tmp_path / "lib")]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert f"tmp_crouch ({other})" in out  # tmp_roll is a spec alone: the robot knows it, sim cannot teach it
    assert skill_specs.get("tmp_roll").description == "a plug-in's skill"
    exported = [str(path.resolve()), str(other.resolve())]  # absolute: a child may run elsewhere
    assert os.environ[PLUGINS_ENV].split(os.pathsep) == exported

    # a spawned bench worker (or node) loads them from the environment alone: it looks tmp_roll up in its
    # own registry (a module-level function is pickled by name, its registry not sent along)
    sys.path.insert(0, str(ROOT))
    from bench.few_shot import run_jobs

    job = (skill_specs.teacher_action_mode, "tmp_roll")
    assert run_jobs([job], workers=1, results=[], on_result=lambda done: None) == ["gait"]


def test_skills_takes_files_up_to_the_command_and_demo_keeps_its_own_skills_option():
    from yan_dog.cli import _split_plugin_files, build_parser

    parser = build_parser()
    args = parser.parse_args(_split_plugin_files(
        ["--skills", "a.py", "b.py", "--skills", "c.py", "demo", "--skills", "sit", "wave"], parser.commands))
    assert args.plugins == ["a.py", "b.py", "c.py"] and args.command == "demo"
    assert args.skills == ["sit", "wave"]


def test_a_failed_plugin_is_one_line_and_leaves_the_registries_as_they_were(tmp_path):
    before = registered()
    half = SIM_PLUGIN.format(name="tmp_half", cue="tmp_half_cue") + "raise RuntimeError('oops')\n"
    sit = SIM_PLUGIN.format(name="sit", cue="tmp_c")
    cases = {
        "missing.py": (None, "plug-in file '{path}' not found"),
        "notes.txt": ("wave = 1\n", "is not a Python file"),
        "broken.py": ("x = 1\ndef f(:\n", "{path}:2: syntax error: "),
        "raises.py": (half, f"{{path}}:{line_of(half, 'raise')}: RuntimeError: oops"),
        "nothing.py": ("import sim\nX = 1\n", "registers no skill and no cue"),
        "sit.py": (sit, f"{{path}}:{line_of(sit, 'register(Skill')}: ValueError: 'sit' is a built-in skill"),
        "sit_overwrite.py": (sit.replace("hold_s=0.5)", "hold_s=0.5), overwrite=True"),
                             "replaces the built-in skill 'sit'"),
        "clap.py": ("import numpy as np, sim\nsim.register_cue('clap', np.ones(100))\n",
                    "{path}:2: ValueError: 'clap' is a built-in cue and cannot be replaced"),
        "import_error.py": ("import no_such_module_here\n", "{path}:1: ModuleNotFoundError: "),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(PluginError) as err:
            plugins.load_plugins([path])
        message = str(err.value)
        assert expected.format(path=path) in message and "\n" not in message, message
        assert registered() == before, name  # a half-run plug-in is rolled back
        assert sim.skills.get("sit") in sim.skills.BUILTIN_SKILLS
    assert "tmp_half" not in sim.skills.names() and plugins.loaded_plugins() == []


# --- entry points ---------------------------------------------------------------------------------------
def fake_distribution(site: Path, entry_points: str, modules: dict[str, str]) -> None:
    """An installed package in `site` (a folder on sys.path): its modules and a dist-info with
    `entry_points` (an entry_points.txt), as pip would leave them."""
    info = site / "tmp_tricks-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tmp-tricks\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for name, text in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(text))


def test_installed_packages_register_through_the_entry_point_group(tmp_path, monkeypatch):
    fake_distribution(tmp_path, """
        [yan_dog.plugins]
        roll = tmp_tricks_module
        crouch = tmp_tricks_callable:register
    """, {
        "tmp_tricks_module": SPEC_PLUGIN.format(name="tmp_roll"),
        "tmp_tricks_callable": "def register():\n" + textwrap.indent(
            textwrap.dedent(SIM_PLUGIN.format(name="tmp_crouch", cue="tmp_beep")), "    "),
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    found = {p.source: p for p in plugins.load_entry_points()}
    roll = found["entry point 'roll' (tmp_tricks_module, package tmp-tricks)"]
    crouch = found["entry point 'crouch' (tmp_tricks_callable:register, package tmp-tricks)"]
    assert roll.skills == ("tmp_roll",) and crouch.skills == ("tmp_crouch",) and crouch.cues == ("tmp_beep",)
    assert set(plugins.load_plugins()) == {roll, crouch}  # loaded once


def test_a_failing_entry_point_is_one_line_naming_it(tmp_path, monkeypatch):
    fake_distribution(tmp_path, "[yan_dog.plugins]\nbad = tmp_bad_tricks:register\n",
                      {"tmp_bad_tricks": "def register():\n    raise ValueError('no tricks today')\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as err:
        plugins.load_entry_points()
    message = str(err.value)
    assert message.startswith("entry point 'bad' (tmp_bad_tricks:register, package tmp-tricks) (")
    assert "tmp_bad_tricks.py:2): ValueError: no tricks today" in message and "\n" not in message


# --- the bench -----------------------------------------------------------------------------------------
def test_the_bench_refuses_a_bad_plugin_and_an_unknown_skill_in_one_line(tmp_path, capsys):
    sys.path.insert(0, str(ROOT))
    from bench import few_shot

    for argv, expected in [(["--plugins", str(tmp_path / "none.py")], "plug-in file"),
                           (["--skills", "wave"], "unknown skills ['wave']")]:
        with pytest.raises(SystemExit) as exit_:
            few_shot.main([*argv, "--json", str(tmp_path / "out.json")])
        assert exit_.value.code == 2 and expected in capsys.readouterr().err


# --- the example: examples/my_tricks.py ------------------------------------------------------------------
def wave_episode(seed: int, policy: str) -> bool:
    """One episode of `wave`: the scripted teacher, or its raised paw held still (no waving)."""
    (plugin,) = plugins.load_plugins([EXAMPLE], entry_points=False)
    tricks = sys.modules[plugin.module]
    env = gym.make(sim.ENV_ID, skill="wave", camera_size=TINY_CAMERA, camera_hz=1.0)
    env.reset(seed=seed)
    done, info = False, {}
    while not done:
        ctx = env.unwrapped.skill_context()
        action = env.unwrapped.teacher_action()
        if policy == "still" and ctx.since_go_s >= tricks.WAVE_START_S:  # the paw raised, not waved
            action = tricks.WAVE_POSE_RAD
        _, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    env.close()
    return bool(info["success"])


def test_a_raised_paw_held_still_is_not_a_wave():
    assert not wave_episode(STILL_SEED, "still")  # the teacher's wave passes: the test below records it


@pytest.mark.slow
def test_the_example_wave_passes_its_check_on_randomised_seeds():
    failed = [seed for seed in WAVE_SEEDS if not wave_episode(seed, "teacher")]
    assert not failed, f"the scripted wave failed its check on seeds {failed}"
    assert not any(wave_episode(seed, "still") for seed in WAVE_SEEDS[:3])


def test_the_example_wave_is_taught_through_the_cli(tmp_path, capsys):
    from yan_policy.data.library import SkillLibrary
    from yan_policy.policies.registry import load_policy

    library = tmp_path / "library"
    argv = ["--skills", str(EXAMPLE), "teach", "--skill", "wave", "--demos", "1", "--learn-seconds", "1",
            "--policy", "mlp", "--library", str(library)]
    assert cli_main(argv) == 0
    assert "learned 'wave'" in capsys.readouterr().out
    lib = SkillLibrary(library)
    assert lib.load(load_policy) is not None and list(lib.skills) == ["wave"]
    assert lib.skills["wave"].cue == "wolf_whistle"
    (demo,) = lib.demos("wave")
    assert demo.success is True and demo.extra.get("teacher_action_mode") == "joint"
    assert np.all(np.isfinite(demo.action))
