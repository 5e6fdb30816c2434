"""yan_dog.panel_server: the teach panel's web server over a recording backend (no ROS, no browser).

Token refused / accepted on HTTP and the socket, actions checked, reaching the backend and logged in one
line each, recorded cues checked and stored, status and camera frames pushed on the socket."""

import io
import wave

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from yan_dog.panel_server import PanelConfig, check_cue_wav, create_app, is_loopback

TOKEN = "s3cret-token"
JPEG = b"\xff\xd8fake-jpeg\xff\xd9"


class RecordingBackend:
    """Stands in for the panel node: records actions, serves a fixed status and frame."""

    def __init__(self):
        self.actions, self.clients = [], []

    def act(self, action, args):
        self.actions.append((action, args))
        return (False, "refused by the fake") if action == "save_skill" else (True, f"{action} sent")

    def snapshot(self):
        return {"teach": {"skill": "head_tilt", "learner_steps": 12}, "sim": {"success": False},
                "answers": []}

    def frame(self):
        return (1, JPEG)

    def set_clients(self, n):
        self.clients.append(n)


def wav_bytes(seconds=0.5, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.3 * np.sin(2 * np.pi * 1500 * t) * 32767).astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def make(tmp_path, token=""):
    backend, lines = RecordingBackend(), []
    config = PanelConfig(host="0.0.0.0" if token else "127.0.0.1", port=0, token=token,
                         cue_dir=str(tmp_path / "cues"), export_dir=str(tmp_path / "exports"))
    return TestClient(create_app(config, backend, log=lines.append)), backend, lines


def test_only_loopback_goes_without_a_token():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    with pytest.raises(ValueError, match="--token"):
        PanelConfig(host="0.0.0.0")
    PanelConfig(host="0.0.0.0", token=TOKEN)


def test_the_token_is_checked_on_http_and_on_the_socket(tmp_path):
    client, backend, lines = make(tmp_path, TOKEN)
    assert client.get("/").status_code == 401
    assert client.get("/?token=wrong").status_code == 401
    assert client.post("/api/action", json={"action": "start_demo"}).status_code == 401
    assert backend.actions == [] and any("no valid token" in line for line in lines)
    page = client.get(f"/?token={TOKEN}")
    assert page.status_code == 200 and 'id="demo-start"' in page.text
    assert client.get("/panel.js", headers={"X-Panel-Token": TOKEN}).status_code == 200
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/ws") as ws:
        ws.receive_json()
    assert closed.value.code == 4401
    with client.websocket_connect(f"/ws?token={TOKEN}") as ws:
        status = ws.receive_json()
        assert status["type"] == "status" and status["teach"]["learner_steps"] == 12
        assert ws.receive_bytes() == JPEG
    assert backend.clients == [1, 0]  # the node drives only while a browser is connected


def test_actions_are_checked_reach_the_backend_and_are_logged_once(tmp_path):
    client, backend, lines = make(tmp_path)
    assert client.post("/api/action", json={"action": "set_skill", "name": "head_tilt"}).json()["ok"]
    pose = [0.1] * 12
    assert client.post("/api/action", json={"action": "pose", "targets": pose}).status_code == 200
    for _ in range(3):  # a held joystick repeats its command: logged once
        client.post("/api/action", json={"action": "drive", "vx": 0.5})
    refused = client.post("/api/action", json={"action": "save_skill"})
    assert refused.status_code == 409 and refused.json()["message"] == "refused by the fake"
    assert backend.actions[:3] == [("set_skill", {"name": "head_tilt"}), ("pose", {"targets": pose}),
                                   ("drive", {"vx": 0.5, "vy": 0.0, "wz": 0.0})]
    assert sum("drive" in line for line in lines) == 1
    assert any("set_skill {'name': 'head_tilt'}" in line for line in lines)
    n = len(backend.actions)
    for body, why in [('{"action": "fly"}', "unknown action"),
                      ('{"action": "pose", "targets": [' + "0.1, " * 10 + "0.1]}", "12"),
                      ('{"action": "drive", "vx": Infinity}', "finite"), ('{"action": "set_trying"}', "on:"),
                      ('{"action": "pose", "targets": [' + "NaN, " * 11 + "0.1]}", "finite"),
                      ('{"action": "set_skill", "name": 3}', "short string"), ("[1, 2]", "JSON object")]:
        r = client.post("/api/action", content=body.encode())
        assert r.status_code == 400 and why in r.json()["message"], (body, r.json())
    assert client.post("/api/action", content=b"{not json").status_code == 400
    assert len(backend.actions) == n  # nothing refused reached the robot
    robot = client.get("/api/robot").json()
    assert len(robot["joint_names"]) == len(robot["stand"]) == len(robot["lower"]) == 12
    assert "whistle_falling" in robot["cues"] and set(robot["postures"]) >= {"stand", "sit"}


def test_a_recorded_cue_is_checked_stored_and_made_the_skills_cue(tmp_path):
    client, backend, lines = make(tmp_path)
    data = wav_bytes()
    r = client.post("/api/cue?name=head_tilt_cue", content=data)
    assert r.status_code == 200 and r.json()["seconds"] == pytest.approx(0.5)
    stored = tmp_path / "cues" / "head_tilt_cue.wav"
    assert stored.read_bytes() == data
    assert backend.actions == [("set_cue", {"cue": "head_tilt_cue", "wav": str(stored)})]
    assert client.post("/api/cue?name=../evil", content=data).status_code == 400
    assert client.post("/api/cue?name=x", content=b"RIFF....nope").status_code == 400
    assert client.post("/api/cue?name=x", content=wav_bytes(seconds=6.0)).status_code == 400
    assert len(backend.actions) == 1
    with pytest.raises(ValueError, match="at most"):
        check_cue_wav(wav_bytes(seconds=6.0))


def test_an_exported_skill_is_served_only_once_written(tmp_path):
    client, _, _ = make(tmp_path)
    assert client.get("/api/export/head_tilt").status_code == 404
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "head_tilt.yanskill").write_bytes(b"skill")
    r = client.get("/api/export/head_tilt")
    assert r.status_code == 200 and r.content == b"skill"
