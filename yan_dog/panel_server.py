"""The browser teach panel's web server (FastAPI + a WebSocket; no ROS: a `PanelBackend` does the robot part).

`yan-dog panel` (the `panel_node`, `yan_dog_ros.panel_node`) serves one page (`yan_dog/panel_static/`:
plain HTML, JS and CSS, no build step, laid out for a phone) from which a person teaches the dog:

    GET  /                         the page
    GET  /api/robot                joint names, limits, the standing pose and the preset postures (rad)
    POST /api/action               {"action": ..., ...arguments}: drive, posture, pose, and every teach
                                   action of `yan_dog_ros.teach_client.ACTIONS`; answers arrive on the socket
    POST /api/cue?name=NAME        a recorded cue (a PCM WAV body, from the browser's microphone): stored
                                   as NAME.wav in the cue folder and made the skill's cue
    GET  /api/export/NAME          an exported skill file (after the export_skill action)
    WS   /ws                       pushes {"type": "status", ...} ~STATUS_HZ times a second and each new
                                   camera frame as a binary JPEG message

Access: bound to 127.0.0.1 unless a token is given; with a token every request and the socket must carry it
(`?token=` or the `X-Panel-Token` header), compared in constant time. Every action is logged in one line
(repeats of an unchanged drive command are not). Why a server beside the brain: the panel is the owner's
way to teach without a terminal or ROS tools, from any phone on the robot's network.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import ipaddress
import math
import os
import re
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from robots.gait import TrotController
from robots.poses import posture_targets
from robots.profile import get_profile
from yan_dog.teleop import STRAFE_SPEED_MPS, TURN_RATE_RADPS, WALK_SPEED_MPS, known_skills

STATIC_DIR = Path(__file__).resolve().parent / "panel_static"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
STATUS_HZ = 5.0  # status pushes per second on the socket
MAX_CAMERA_HZ = 10.0  # camera frames per second on the socket at most (the sim draws 10)
MAX_CUE_BYTES = 4 * 1024 * 1024  # a recorded cue: a few seconds of 48 kHz 16-bit mono is ~0.5 MB
MAX_CUE_S = 5.0  # a cue is a word or a whistle, not a speech
MAX_BODY_CHARS = 4096  # an action's JSON body
CUE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # a cue name becomes a file name: no paths
TOKEN_HEADER = "X-Panel-Token"
MOTION_ACTIONS = ("drive", "posture", "pose")  # handled by the backend's teleop state, not the brain
TEACH_ACTIONS = ("start_demo", "stop_demo", "discard_demo", "save_skill", "set_trying", "set_learning",
                 "play_cue", "reset_sim", "set_skill", "set_cue", "list_skills", "rename_skill",
                 "delete_skill", "export_skill")
LOOPBACK_NAMES = ("localhost",)


class PanelBackend(Protocol):
    """What the server needs of the robot side (the panel node; a fake in the server's tests)."""

    def act(self, action: str, args: dict) -> tuple[bool, str]:
        """Start `action`; (False, why) if it is refused at once. Answers come later in `snapshot`."""

    def snapshot(self) -> dict:
        """JSON-ready status: brain, sim, teach desk, answers (a list of {seq, action, ok, message})."""

    def frame(self) -> tuple[int, bytes] | None:
        """(sequence number, JPEG bytes) of the newest camera frame, or None before the first."""

    def set_clients(self, n: int) -> None:
        """How many browsers are connected (the node drives the robot only while one is)."""


@dataclass
class PanelConfig:
    """Where the panel listens and what it keeps.

    Args:
        host: the address to bind; anything but loopback needs `token`.
        port: TCP port (0: any free port, for tests).
        token: the shared secret every request must carry ("" = none, loopback only).
        cue_dir: where recorded cues are stored (NAME.wav).
        export_dir: where exported skills are written for download.
        robot: the robot's profile name (its joints, limits and postures for the pose editor).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str = ""
    cue_dir: str = os.path.expanduser("~/.local/share/yan-dog/cues")
    export_dir: str = os.path.expanduser("~/.local/share/yan-dog/exports")
    robot: str = "a1"

    def __post_init__(self):
        if not is_loopback(self.host) and not self.token:
            raise ValueError(f"the panel binds {self.host!r}, not this machine only: give it a --token")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")
        get_profile(self.robot)  # a ValueError naming the known robots


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_cue_wav(data: bytes) -> float:
    """The duration (s) of a recorded cue if `data` is a usable PCM WAV, else ValueError saying why."""
    if len(data) > MAX_CUE_BYTES:
        raise ValueError(f"cue file larger than {MAX_CUE_BYTES} bytes")
    try:
        with wave.open(io.BytesIO(data)) as w:
            frames, rate, width = w.getnframes(), w.getframerate(), w.getsampwidth()
    except (wave.Error, EOFError) as e:
        raise ValueError(f"not a PCM WAV file: {e}") from None
    if rate <= 0 or frames == 0 or width not in (1, 2, 3, 4):
        raise ValueError(f"empty or unsupported WAV ({frames} frames at {rate} Hz, {width} bytes)")
    seconds = frames / rate
    if seconds > MAX_CUE_S:
        raise ValueError(f"cue is {seconds:.1f} s long; at most {MAX_CUE_S:g} s")
    return seconds


def robot_description(robot: str) -> dict:
    """What the pose editor needs: joint names, limits, the standing targets (what a zero teach action
    holds) and the preset postures, all in rad and the project's motor order."""
    profile = get_profile(robot)
    return {
        "robot": profile.name,
        "joint_names": list(profile.joint_names),
        "lower": list(profile.joint_lower_rad),
        "upper": list(profile.joint_upper_rad),
        "stand": TrotController(profile=profile).stand_targets().tolist(),
        "postures": {k: v.tolist() for k, v in posture_targets(profile).items()},
        "max_speed": {"vx": WALK_SPEED_MPS, "vy": STRAFE_SPEED_MPS, "wz": TURN_RATE_RADPS},
        "cues": sorted({cue for _, cue in known_skills()}),  # the built-in sounds
    }


def _finite_numbers(values, n: int, what: str) -> list[float]:
    if not isinstance(values, list) or len(values) != n:
        raise ValueError(f"{what} must be a list of {n} numbers")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{what} must be {n} finite numbers, got {values!r}"[:200])
        out.append(float(v))
    return out


def check_action(body: dict, n_joints: int) -> tuple[str, dict]:
    """A request body -> (action, its arguments), checked; ValueError (one line) otherwise."""
    if not isinstance(body, dict) or not isinstance(body.get("action"), str):
        raise ValueError('an action is a JSON object {"action": NAME, ...}')
    action = body["action"]
    args = {k: v for k, v in body.items() if k != "action"}
    if action == "drive":
        vx, vy, wz = _finite_numbers([args.get(k, 0.0) for k in ("vx", "vy", "wz")], 3, "drive (vx, vy, wz)")
        return action, {"vx": vx, "vy": vy, "wz": wz}
    if action == "pose":
        return action, {"targets": _finite_numbers(args.get("targets"), n_joints, "pose targets (rad)")}
    if action in ("set_trying", "set_learning"):
        if not isinstance(args.get("on"), bool):
            raise ValueError(f"{action} needs on: true or false")
        return action, {"on": args["on"]}
    if action not in MOTION_ACTIONS + TEACH_ACTIONS:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(MOTION_ACTIONS + TEACH_ACTIONS)}")
    for k, v in args.items():  # every other argument is a short string (names, a cue, a posture)
        if not isinstance(v, str) or len(v) > MAX_BODY_CHARS // 4:
            raise ValueError(f"{action}: argument {k!r} must be a short string")
    return action, args


def create_app(config: PanelConfig, backend: PanelBackend, log: Callable[[str], None] = print) -> FastAPI:
    """The panel's FastAPI app over `backend` (see the module docstring)."""
    app = FastAPI(title="yan-dog teach panel", docs_url=None, redoc_url=None, openapi_url=None)
    robot = robot_description(config.robot)
    n_joints = len(robot["joint_names"])
    cue_dir, export_dir = Path(config.cue_dir), Path(config.export_dir)
    last_drive: dict = {}

    def authorised(token: str | None) -> bool:
        return not config.token or (token is not None and hmac.compare_digest(token, config.token))

    @app.middleware("http")
    async def check_token(request: Request, call_next):
        token = request.query_params.get("token") or request.headers.get(TOKEN_HEADER)
        if not authorised(token):
            log(f"panel: refused {request.method} {request.url.path} from {_client(request)}: no valid token")
            return JSONResponse({"ok": False, "message": "a valid token is needed"}, status_code=401)
        return await call_next(request)

    @app.get("/api/robot")
    async def get_robot():
        return robot

    @app.post("/api/action")
    async def post_action(request: Request):
        raw = await request.body()
        if len(raw) > MAX_BODY_CHARS:
            raise HTTPException(413, f"an action body is at most {MAX_BODY_CHARS} bytes")
        try:
            action, args = check_action(await request.json() if raw else None, n_joints)
        except ValueError as e:  # json errors are ValueErrors too
            log(f"panel: refused action from {_client(request)}: {e}")
            return JSONResponse({"ok": False, "message": str(e)}, status_code=400)
        if action != "drive" or args != last_drive.get("args"):
            log(f"panel: {_client(request)} {action} {args}")
        if action == "drive":
            last_drive["args"] = args
        ok, message = backend.act(action, args)
        return JSONResponse({"ok": ok, "message": message}, status_code=200 if ok else 409)

    @app.post("/api/cue")
    async def post_cue(request: Request, name: str):
        if not CUE_NAME_RE.fullmatch(name):
            return JSONResponse({"ok": False, "message": f"cue name {name!r}: letters, digits, _ or -"}, 400)
        data = await request.body()
        try:
            seconds = check_cue_wav(data)
        except ValueError as e:
            log(f"panel: refused cue {name!r} from {_client(request)}: {e}")
            return JSONResponse({"ok": False, "message": str(e)}, status_code=400)
        cue_dir.mkdir(parents=True, exist_ok=True)
        path = cue_dir / f"{name}.wav"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: the sim never reads half a file
        log(f"panel: {_client(request)} recorded cue {name!r} ({seconds:.2f} s) -> {path}")
        ok, message = backend.act("set_cue", {"cue": name, "wav": str(path)})
        return JSONResponse({"ok": ok, "message": message, "seconds": seconds},
                            status_code=200 if ok else 409)

    @app.get("/api/export/{name}")
    async def get_export(name: str, request: Request):
        path = export_dir / f"{name}.yanskill"
        if not CUE_NAME_RE.fullmatch(name) or not path.is_file():
            raise HTTPException(404, f"no exported skill {name!r}: export it first")
        log(f"panel: {_client(request)} downloaded {path}")
        return FileResponse(path, filename=path.name, media_type="application/octet-stream")

    @app.websocket("/ws")
    async def socket(ws: WebSocket):
        token = ws.query_params.get("token") or ws.headers.get(TOKEN_HEADER)
        if not authorised(token):
            log(f"panel: refused a socket from {ws.client.host if ws.client else '?'}: bad or no token")
            await ws.close(code=4401)  # 4xxx: application codes; 4401 mirrors HTTP 401
            return
        await ws.accept()
        clients["n"] += 1
        backend.set_clients(clients["n"])
        log(f"panel: socket open ({clients['n']} connected)")
        sent_frame, period_s = -1, 1.0 / max(STATUS_HZ, MAX_CAMERA_HZ)
        ticks_per_status = max(1, round(MAX_CAMERA_HZ / STATUS_HZ))
        tick = 0
        try:
            while True:
                if tick % ticks_per_status == 0:
                    await ws.send_json({"type": "status", **backend.snapshot()})
                frame = backend.frame()
                if frame is not None and frame[0] != sent_frame:
                    sent_frame = frame[0]
                    await ws.send_bytes(frame[1])
                tick += 1
                await asyncio.sleep(period_s)
        except (WebSocketDisconnect, RuntimeError):  # the browser went away mid-send
            pass
        finally:
            clients["n"] -= 1
            backend.set_clients(clients["n"])
            log(f"panel: socket closed ({clients['n']} connected)")

    clients = {"n": 0}
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static")
    return app


def _client(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "?"
