"""User plug-ins: Python files and installed packages that register skills and cues when they are loaded.

A plug-in is
- a Python file, given as `yan-dog --skills FILE`, `bench/few_shot.py --plugins FILE` or in
  $YAN_DOG_PLUGINS (`PLUGINS_ENV`, paths separated by `os.pathsep`), imported once by its path; or
- an entry point of an installed package in the group `yan_dog.plugins` (`ENTRY_POINT_GROUP`): a module
  (importing it registers) or a callable (called with no arguments), e.g. in its pyproject.toml:
  `[project.entry-points."yan_dog.plugins"] tricks = "my_package.tricks"`.

Either registers through the public APIs: `sim.skills.register(Skill(...))` (or, for a robot without the
simulator, `robots.skills.register(SkillSpec(...))`) and `sim.register_cue` / `sim.register_wav_cue` /
`sim.register_spoken_cue`; examples/my_tricks.py is one to copy. A plug-in must register something, and
only new names: it cannot replace a built-in skill or cue. Any failure (a missing file, a syntax error,
an exception while it runs) is a `PluginError`, one line with the file and line, and leaves the registries
as they were. Why the environment variable: the processes yan-dog starts (spawned bench workers, `yan-dog
up --processes` nodes) learn the plug-ins from it and load them too (`load_plugins_from_env`).

This module never imports ROS, and `sim` only for a plug-in that imports it (first, so that what the
simulator registers by itself is not taken for the plug-in's): a robot's brain with a plug-in that
registers only a `SkillSpec` stays free of the simulator.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from robots import skills as skill_specs
from yan_dog.errors import UserError, one_line

PLUGINS_ENV = "YAN_DOG_PLUGINS"  # plug-in files, os.pathsep-separated, that every yan-dog process loads
ENTRY_POINT_GROUP = "yan_dog.plugins"  # installed packages' plug-ins
MODULE_PREFIX = "yan_dog_plugin_"  # sys.modules name of a plug-in file: prefix + stem + hash of its path
PATH_HASH_CHARS = 8  # hex digits of the path's hash in that name (two files with one stem stay apart)
EXAMPLE = "examples/my_tricks.py"


class PluginError(UserError):
    """A plug-in could not be loaded; the message names it (file:line where there is one) and says why."""


@dataclass(frozen=True)
class Plugin:
    """A loaded plug-in and what it registered.

    Args:
        source: the file's path as given, or "entry point 'NAME' (VALUE, package DIST)".
        skills: names of the skills it registered, in order.
        cues: names of the cues it registered, in order.
        module: the module it was imported as (sys.modules; "" for an entry point's callable).
    """

    source: str
    skills: tuple[str, ...]
    cues: tuple[str, ...]
    module: str = ""


_loaded: dict[str, Plugin] = {}  # key (resolved path, or group:name=value) -> plug-in
_lock = threading.RLock()  # nodes of one process may be built from several threads


# --- what the registries hold (without importing the simulator) -----------------------------------------
def _sim_module(name: str) -> ModuleType | None:
    """`sim.skills` / `sim.cues` if this process has imported them (a plug-in that registers into them
    has), else None: a robot's brain never imports the simulator for this."""
    return sys.modules.get(name)


@dataclass(frozen=True)
class _Snapshot:
    skills: tuple[str, ...]
    cues: tuple[str, ...]
    builtins: dict  # built-in skill name -> (its spec, its sim.skills.Skill or None)


def _builtin_objects() -> dict:
    sim_skills = _sim_module("sim.skills")
    out = {}
    for spec in skill_specs.BUILTIN_SKILL_SPECS:
        skill = sim_skills.get(spec.name) if sim_skills and spec.name in sim_skills.names() else None
        out[spec.name] = (skill_specs.SPECS.find(spec.name), skill)
    return out


def _snapshot() -> _Snapshot:
    sim_skills, sim_cues = _sim_module("sim.skills"), _sim_module("sim.cues")
    skills = dict.fromkeys(skill_specs.names()) | dict.fromkeys(sim_skills.names() if sim_skills else ())
    cues = sim_cues.cue_names() if sim_cues else ()
    return _Snapshot(tuple(skills), tuple(cues), _builtin_objects())


def _replaced_builtins(before: _Snapshot) -> list[str]:
    """Built-in skills whose spec or simulator skill changed since `before` (a plug-in replaced them)."""
    sim_skills = _sim_module("sim.skills")
    originals = {s.name: s for s in getattr(sim_skills, "BUILTIN_SKILLS", ())}
    replaced = []
    for name, (spec_now, skill_now) in _builtin_objects().items():
        spec_then, skill_then = before.builtins[name]
        if skill_then is None:  # the simulator was imported since: its own built-in is expected
            skill_then = originals.get(name)
        expected_spec = skill_then.spec if skill_then is not None else spec_then
        if skill_now is not skill_then or spec_now != expected_spec:
            replaced.append(name)
    return replaced


def _added(before: _Snapshot, after: _Snapshot) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(skills, cues) registered since `before`; the simulator's built-in cues do not count (importing it
    registers them)."""
    builtin_cues = getattr(_sim_module("sim.cues"), "CUE_NAMES", ())
    return (tuple(s for s in after.skills if s not in before.skills),
            tuple(c for c in after.cues if c not in before.cues and c not in builtin_cues))


def _unregister(skills: Iterable[str], cues: Iterable[str]) -> None:
    sim_skills, sim_cues = _sim_module("sim.skills"), _sim_module("sim.cues")
    for name in skills:
        if sim_skills is not None and name in sim_skills.names():
            sim_skills.unregister(name)  # and its spec
        elif skill_specs.SPECS.find(name) is not None:
            skill_specs.unregister(name)
    for name in cues:
        if sim_cues is not None and name in sim_cues.cue_names():
            sim_cues.unregister_cue(name)


def _restore(before: _Snapshot) -> None:
    """Undo what a failed plug-in registered: new names removed, replaced built-ins put back."""
    _unregister(*_added(before, _snapshot()))
    sim_skills = _sim_module("sim.skills")
    for name in _replaced_builtins(before):
        spec, skill = before.builtins[name]
        if skill is None and sim_skills is not None:
            skill = next(s for s in sim_skills.BUILTIN_SKILLS if s.name == name)
        if skill is not None:
            sim_skills.register(skill, overwrite=True)
        if spec is not None:
            skill_specs.register(spec, overwrite=True)


# --- loading ---------------------------------------------------------------------------------------------
def _where(tb, filename: str | None) -> str:
    """"FILE:LINE" of the innermost traceback frame in `filename` (any file when None; "" if none)."""
    frames = [f for f in traceback.extract_tb(tb) if filename is None or f.filename == filename]
    frames = [f for f in frames if not f.filename.startswith("<frozen")]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _forget(before: _Snapshot, module: str) -> None:
    """Undo a plug-in that ran but is refused: its registrations, and a file's module (it may run again)."""
    _restore(before)
    if module.startswith(MODULE_PREFIX):
        sys.modules.pop(module, None)


def _load(key: str, shown: str, run: Callable[[], None], filename: str | None, module: str) -> Plugin:
    """Run a plug-in once under `key`; what it registered, or a PluginError (registries left as before)."""
    with _lock:
        if key in _loaded:
            return _loaded[key]
        before = _snapshot()
        try:
            run()
        except SyntaxError as e:
            _restore(before)
            where = f"{shown}:{e.lineno}" if e.filename == filename else f"{e.filename}:{e.lineno}"
            where = where if filename is not None else f"{shown} ({where})"
            raise PluginError(f"{where}: syntax error: {e.msg}") from e
        except Exception as e:  # the plug-in's own code failed: say where, in one line
            _restore(before)
            where = _where(e.__traceback__, filename)
            if filename is not None:  # a file: its line, named as the person gave it
                where = where.replace(filename, shown, 1) if where else shown
            else:  # an entry point: which one, and the innermost line
                where = f"{shown} ({where})" if where else shown
            raise PluginError(f"{where}: {type(e).__name__}: {one_line(e)}") from e
        replaced = _replaced_builtins(before)
        if replaced:
            _forget(before, module)
            raise PluginError(f"{shown} replaces the built-in skill {replaced[0]!r}: give yours a name "
                              f"of its own")
        plugin = Plugin(shown, *_added(before, _snapshot()), module)
        if not plugin.skills and not plugin.cues:
            _forget(before, module)
            raise PluginError(f"{shown} registers no skill and no cue: call sim.skills.register(Skill(...)) "
                              f"or sim.register_cue(...) in it (see {EXAMPLE})")
        _loaded[key] = plugin
        return plugin


def _imports_sim(path: Path) -> bool:
    """Whether the Python file at `path` imports the simulator (`import sim...`, `from sim... import`);
    False if it cannot be parsed (running it reports that)."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (SyntaxError, ValueError, OSError):
        return False
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        if any(n == "sim" or n.startswith("sim.") for n in names):
            return True
    return False


def _module_file(module: str) -> Path | None:
    """The source file of `module` without running it (its parent packages are imported), or None."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin and spec.has_location else None


def _import_sim_first(path: Path | None) -> None:
    """Import the simulator before the snapshot when the plug-in `path` imports it, so that what `sim`
    registers by itself is not taken for the plug-in's (a robot's brain with a plug-in that registers only
    a SkillSpec never imports it)."""
    if path is not None and "sim" not in sys.modules and _imports_sim(path):
        importlib.import_module("sim")


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:PATH_HASH_CHARS]
    stem = re.sub(r"\W", "_", path.stem)
    return f"{MODULE_PREFIX}{stem}_{digest}"


def load_plugin_file(path: str | os.PathLike) -> Plugin:
    """Import the Python file at `path` as a plug-in (once per resolved path); PluginError if it is not a
    readable .py file, fails, or registers nothing."""
    given = Path(path).expanduser()
    if not given.exists():
        raise PluginError(f"plug-in file {str(path)!r} not found")
    if not given.is_file() or given.suffix != ".py":
        raise PluginError(f"plug-in {str(path)!r} is not a Python file (*.py)")
    resolved = given.resolve()
    name = _module_name(resolved)
    _import_sim_first(resolved)

    def run() -> None:
        spec = importlib.util.spec_from_file_location(name, resolved)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickle look a plug-in's classes up by module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise

    return _load(str(resolved), str(path), run, str(resolved), name)


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[Plugin]:
    """Load every installed package's plug-in in entry-point group `group` (each once)."""
    plugins = []
    with _lock:
        for ep in importlib.metadata.entry_points(group=group):
            key = f"{group}:{ep.name}={ep.value}"
            dist = getattr(ep, "dist", None)
            shown = f"entry point {ep.name!r} ({ep.value}{f', package {dist.name}' if dist else ''})"
            if key not in _loaded and ep.attr is None and ep.module in sys.modules:
                _loaded[key] = Plugin(shown, (), (), ep.module)  # imported before: it has registered
            elif key not in _loaded:
                _import_sim_first(_module_file(ep.module))

            def run(ep=ep) -> None:
                loaded = ep.load()
                if callable(loaded) and not isinstance(loaded, ModuleType):
                    loaded()

            plugins.append(_load(key, shown, run, None, ep.module if ep.attr is None else ""))
    return plugins


def load_plugins(paths: Iterable[str | os.PathLike] = (), *, entry_points: bool = True) -> list[Plugin]:
    """Load the plug-in files `paths` (in order), then the installed packages' plug-ins; each once per
    process. Returns them all; the first failure is a PluginError."""
    plugins = [load_plugin_file(p) for p in paths]
    return plugins + (load_entry_points() if entry_points else [])


def plugin_paths_from_env(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """The plug-in files named in $YAN_DOG_PLUGINS (empty entries skipped)."""
    value = (os.environ if environ is None else environ).get(PLUGINS_ENV, "")
    return [p for p in value.split(os.pathsep) if p.strip()]


def load_plugins_from_env(environ: MutableMapping[str, str] | None = None) -> list[Plugin]:
    """`load_plugins` of $YAN_DOG_PLUGINS's files and the entry points: what a process yan-dog started
    calls before it looks a skill up."""
    return load_plugins(plugin_paths_from_env(environ))


def export_plugin_paths(paths: Iterable[str | os.PathLike], environ: MutableMapping[str, str] | None = None
                        ) -> str:
    """Add `paths` (made absolute: a child may run elsewhere) to $YAN_DOG_PLUGINS, so the processes this
    one starts load them; returns the new value."""
    environ = os.environ if environ is None else environ
    merged = dict.fromkeys(plugin_paths_from_env(environ))
    merged.update(dict.fromkeys(str(Path(p).expanduser().resolve()) for p in paths))
    environ[PLUGINS_ENV] = os.pathsep.join(merged)
    return environ[PLUGINS_ENV]


def loaded_plugins() -> list[Plugin]:
    """The plug-ins this process has loaded, in order."""
    with _lock:
        return list(_loaded.values())


def unload_plugin(plugin: Plugin) -> None:
    """Unregister what `plugin` registered and forget it (a later load runs it again)."""
    with _lock:
        for key, loaded in list(_loaded.items()):
            if loaded is plugin:
                del _loaded[key]
                _unregister(plugin.skills, plugin.cues)
                if plugin.module.startswith(MODULE_PREFIX):  # a file's: importing it again reruns it
                    sys.modules.pop(plugin.module, None)
