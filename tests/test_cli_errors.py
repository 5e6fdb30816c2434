"""Every `yan-dog` command on bad input ends in one line on stderr, `<command>: error: <what>`, exit status
1 (2 for a malformed command line), and no traceback. Most cases run `main()` in this process (the
imports would dominate a subprocess each); two run the real command in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from yan_dog.cli import main as cli_main
from yan_dog.plugins import PLUGINS_ENV

ROOT = Path(__file__).resolve().parents[1]
ERROR_LINE = re.compile(r"yan-dog( [a-z]+)*: error: \S.*")  # argparse's form: `<prog>: error: <message>`
SUBPROCESS_TIMEOUT_S = 120.0


pytestmark = pytest.mark.usefixtures("clean_plugins")  # tests/conftest.py


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Bad inputs on disk: plug-ins that fail, a damaged skill file, an empty library, a plain file."""
    d = tmp_path_factory.mktemp("bad_input")
    out = {
        "syntax_plugin": d / "syntax.py",
        "empty_plugin": d / "nothing.py",
        "clash_plugin": d / "clash.py",
        "corrupt_skill": d / "sit.yanskill",
        "empty_library": d / "empty_library",
        "plain_file": d / "plain.txt",
    }
    out["syntax_plugin"].write_text("def wave(:\n    pass\n")
    out["empty_plugin"].write_text("X = 1\n")
    out["clash_plugin"].write_text(
        "import sim\nsim.skills.register(sim.skills.Skill('sit', lambda c: 0, lambda c: True, cue='clap'))\n"
    )
    out["corrupt_skill"].write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a safetensors header")
    out["empty_library"].mkdir()
    out["plain_file"].write_text("not a folder\n")
    out["missing"] = d / "missing"
    return out


def cases(f: dict[str, Path]) -> list[tuple[list[str], int, str | tuple[str, ...]]]:
    """(argv, exit status, a fragment of the error line, or alternatives) for each command on bad input."""
    lib = ["--library", str(f["empty_library"])]
    missing = str(f["missing"])
    return [
        # the command line itself (argparse: status 2)
        (["fetch"], 2, "invalid choice: 'fetch'"),
        (["teach", "--skill", "sit", "--demos", "three", *lib], 2, "invalid int value: 'three'"),
        (["teach", "--skill", "sit", "--policy", "bert", *lib], 2, "invalid choice: 'bert'"),
        (["eval", *lib], 2, "required: --skill"),
        (["up", "moon"], 2, "invalid choice: 'moon'"),
        (["dataset"], 2, "required: dataset_command"),
        # plug-ins (--skills, before the command)
        (["--skills", missing + ".py", "skills", *lib], 1, "plug-in file"),
        (["--skills", str(f["syntax_plugin"]), "skills", *lib], 1, f"{f['syntax_plugin']}:1: syntax error"),
        (["--skills", str(f["empty_plugin"]), "skills", *lib], 1, "registers no skill and no cue"),
        (["--skills", str(f["clash_plugin"]), "skills", *lib], 1, "'sit' is a built-in skill"),
        (["--skills", str(f["plain_file"]), "skills", *lib], 1, "is not a Python file"),
        # teach
        (["teach", *lib], 1, "--skill is required"),
        (["teach", "--skill", "backflip", *lib], 1, "unknown skill 'backflip'"),
        (["teach", "--skill", "sit", "--demos", "0", *lib], 1, "--demos must be >= 1"),
        (["teach", "--skill", "sit", "--threads", "0", *lib], 1, "--threads must be >= 1"),
        (["teach", "--skill", "sit", "--learn-seconds", "-1", *lib], 1, "learn_seconds must be > 0"),
        (["teach", "--skill", "sit", "--tries", "-2", *lib], 1, "corrected_tries must be >= 0"),
        (["teach", "--skill", "sit", "--say", "\x07", *lib], 1, "printable"),
        (["teach", "--skill", "sit", "--say", "sit", "--cue-wav", missing, *lib], 1, "not both"),
        (["teach", "--skill", "sit", "--cue-wav", missing + ".wav", *lib], 1, "WAV file not found"),
        (["teach", "--from-bag", missing + ".mcap", *lib], 1, "not found"),
        (["teach", "--skill", "sit", "--library", str(f["plain_file"])], 1, "is a file, not a skill library"),
        # eval
        (["eval", "--skill", "backflip", *lib], 1, "unknown skill 'backflip'"),
        (["eval", "--skill", "sit", "--episodes", "0", *lib], 1, "--episodes must be >= 1"),
        (["eval", "--skill", "sit", "--eval-workers", "0", *lib], 1, "--eval-workers must be >= 1"),
        (["eval", "--skill", "sit", "--json", f"{missing}/result.json", *lib], 1, "--json: no folder"),
        # skills, export, import
        (["skills", "--library", str(f["plain_file"])], 1, "is a file, not a skill library"),
        (["export", "--skill", "sit", "--out", "x.yanskill", "--library", missing], 1, "no skill library at"),
        (["export", "--skill", "sit", "--out", "x.yanskill", *lib], 1, "holds no skill 'sit'"),
        (["export", "--skill", "sit", "--out", f"{missing}/x.yanskill", *lib], 1, "--out: no folder"),
        (["import", missing + ".yanskill", *lib], 1, "not found"),
        (["import", str(f["corrupt_skill"]), *lib], 1, "is not a yan-dog skill file"),
        (["import", str(f["corrupt_skill"]), "--learn-seconds", "0", *lib], 1, "is not a yan-dog skill file"),
        # dataset
        (["dataset", "import", missing, *lib], 1, "is not a LeRobot dataset"),
        (["dataset", "export", missing + "_out", "--library", missing], 1, "no skill library at"),
        (["dataset", "export", missing + "_out", *lib], 1, "holds no demos"),
        # up (without rclpy: one line that says so)
        (["up", "sim", "speed:=11"], 1, ("has no argument 'speed'", "needs rclpy")),
        (["up", "sim", "composed"], 1, ("name:=value", "needs rclpy")),
        # panel (a public address needs a token)
        (["panel", "--host", "0.0.0.0"], 1, ("token", "needs rclpy")),
        # demo
        (["demo", "--skills", "backflip", "--out", missing], 1, "unknown skill 'backflip'"),
        (["demo", "--learn-seconds", "0", "--out", missing], 1, "learn_seconds must be > 0"),
        (["demo", "--eval-episodes", "0", "--out", missing], 1, "--eval-episodes must be >= 1"),
    ]


def run_in_process(argv: list[str], capsys) -> tuple[int, list[str]]:
    """(exit status, stderr lines) of `yan-dog ARGV` as a shell would see them, run through main()."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli_main(argv)
    code, err = exit_.value.code, capsys.readouterr().err
    if isinstance(code, str):  # Python prints the message on stderr and exits with status 1
        code, err = 1, err + code + "\n"
    return code, err.splitlines()


def test_every_command_on_bad_input_is_one_error_line(files, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative --out lands here
    problems = []
    for argv, status, fragments in cases(files):
        code, lines = run_in_process(argv, capsys)
        line = lines[0] if len(lines) == 1 else ""
        fragments = (fragments,) if isinstance(fragments, str) else fragments
        if (code, len(lines)) != (status, 1) or not ERROR_LINE.fullmatch(line) or not any(
            f in line for f in fragments
        ):
            problems.append(f"yan-dog {' '.join(argv)}: status {code}, stderr {lines}")
    assert not problems, "\n".join(problems)
    assert not (tmp_path / "x.yanskill").exists() and not files["missing"].exists()  # nothing written


def test_the_real_command_prints_one_line_and_no_traceback(files):
    """In a process of its own: nothing else reaches stderr (pybullet's import banner included)."""
    argv = ["teach", "--skill", "backflip", "--library", str(files["empty_library"])]
    env = {k: v for k, v in os.environ.items() if k != PLUGINS_ENV} | {"PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "yan_dog.cli", *argv], capture_output=True, text=True,
                         timeout=SUBPROCESS_TIMEOUT_S, env=env)
    lines = run.stderr.splitlines()
    assert run.returncode == 1 and len(lines) == 1, run.stderr
    assert ERROR_LINE.fullmatch(lines[0]) and "unknown skill 'backflip'" in lines[0]
    assert "Traceback" not in run.stderr and run.stdout == ""
