"""LeRobotDataset v3.0 out and in (yan_dog.lerobot_dataset), checked against lerobot's own LeRobotDataset
(lerobot 0.4.4, installed beside torch 2.13 by `make install`: docs/ecosystem.md), offline."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager

import numpy as np
import pytest

from yan_dog.lerobot_dataset import (
    AUDIO,
    CAMERA,
    JOINT_NAMES,
    REST_IMU,
    STATE,
    as_hybrid,
    export_lerobot,
    import_lerobot,
    lerobot_dataset_class,
    task_text,
)
from yan_policy.data.episode import Episode
from yan_policy.data.library import SkillLibrary

pytestmark = [
    pytest.mark.filterwarnings("ignore:The video decoding and encoding capabilities of torchvision"),
    pytest.mark.filterwarnings("ignore:Failed to load image Python extension"),
]

FPS, H, W, SAMPLES = 50, 32, 48, 320
VIDEO_TOLERANCE = 4.0  # mean |decoded - original| per frame, in 0..255 levels (lossy 4:2:0 video)


def frames(t: int, seed: int) -> np.ndarray:
    """Smooth moving colour ramps (what a lossy video codec is made for), (T, H, W, 3) uint8."""
    y, x = np.mgrid[0:H, 0:W]
    out = np.zeros((t, H, W, 3), np.uint8)
    for i in range(t):
        out[i, ..., 0] = x * 160 // W + 4 * i + 20 * seed
        out[i, ..., 1] = y * 160 // H + 40
        out[i, ..., 2] = 100 + 3 * i
    return out


def make_episode(skill: str, cue: str | None, t: int, seed: int, camera: bool = True, audio: bool = True,
                 action_dim: int = 15, control_hz: float = FPS) -> Episode:
    rng = np.random.default_rng(seed)
    return Episode(
        skill=skill, cue=cue, action_mode={15: "hybrid", 12: "joint", 3: "gait"}.get(action_dim, "hybrid"),
        control_hz=control_hz, stamps_s=np.arange(t) / control_hz + rng.uniform(0, 1e-3, t),  # jittered
        joints=rng.normal(size=(t, 3, 12)), imu=rng.normal(size=(t, 10)),
        action=rng.normal(size=(t, action_dim)),
        camera=frames(t, seed) if camera else None,
        audio=rng.integers(-3000, 3000, (t, SAMPLES)) if audio else None,
        label_mask=np.arange(t) >= 2, source="scripted", success=bool(seed % 2), seed=seed,
        extra={"teacher_action_mode": "gait", "note": f"demo {seed}"},
    )


@pytest.fixture
def episodes() -> list[Episode]:
    return [make_episode("sit", "clap", 12, 0), make_episode("sit", "clap", 9, 1),
            make_episode("walk_forward", "whistle_long", 10, 2)]


@pytest.fixture(scope="module")
def LeRobotDataset(tmp_path_factory):  # noqa: N802 (lerobot's class)
    os.environ["HF_DATASETS_CACHE"] = str(tmp_path_factory.mktemp("hf_datasets"))  # not ~/.cache
    return lerobot_dataset_class()


def video_error(decoded: np.ndarray, original: np.ndarray) -> float:
    return float(np.abs(decoded.astype(np.float64) - original).mean())


def test_export_is_read_by_lerobot_frame_by_frame(tmp_path, episodes, LeRobotDataset):  # noqa: N803
    out = export_lerobot(episodes, tmp_path / "ds", max_frames_per_file=25)  # two data and video files
    files = sorted(p.name for p in (out / "data" / "chunk-000").iterdir())
    assert files == ["file-000.parquet", "file-001.parquet"]
    ds = LeRobotDataset("local/yan-dog", root=out, video_backend="pyav")
    meta = ds.meta
    assert (meta.info["codebase_version"], meta.fps, meta.robot_type) == ("v3.0", FPS, "unitree_a1")
    assert (meta.total_episodes, len(ds)) == (3, sum(len(ep) for ep in episodes))
    assert meta.video_keys == [CAMERA] and meta.shapes[CAMERA] == (H, W, 3)
    assert meta.names[STATE][:2] == ["FR_hip_joint.pos", "FR_thigh_joint.pos"]
    assert len(meta.names[STATE]) == 36
    assert meta.features[AUDIO]["info"]["audio.sample_rate"] == 16_000
    assert list(meta.tasks.index) == ["sit: on cue clap", "walk_forward: on cue whistle_long"]
    errors = []
    for i in range(len(ds)):
        item = ds[i]
        ep, f = episodes[item["episode_index"].item()], item["frame_index"].item()
        assert item["task"] == task_text(ep.skill, ep.cue)
        assert item["timestamp"].item() == pytest.approx(f / FPS)
        np.testing.assert_array_equal(item[STATE].numpy(), ep.joints[f].reshape(36))
        np.testing.assert_array_equal(item["observation.imu"].numpy(), ep.imu[f])
        np.testing.assert_array_equal(item["action"].numpy(), ep.action[f])
        np.testing.assert_array_equal(item[AUDIO].numpy(), ep.audio[f])
        assert item["label_mask"].item() == ep.label_mask[f]
        assert item["stamp_s"].item() == np.float32(ep.stamps_s[f])  # lerobot hands scalars as float32
        image = item[CAMERA].numpy()  # (3, H, W) float in 0..1
        assert image.shape == (3, H, W)
        errors.append(video_error(image.transpose(1, 2, 0) * 255, ep.camera[f]))
    assert max(errors) < VIDEO_TOLERANCE, max(errors)
    stats, cams = meta.stats, np.concatenate([ep.camera for ep in episodes])
    states = np.concatenate([ep.joints for ep in episodes]).reshape(-1, 36)
    np.testing.assert_allclose(stats[STATE]["mean"], states.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats[CAMERA]["mean"].ravel(), cams.reshape(-1, 3).mean(0) / 255)
    np.testing.assert_allclose(stats[CAMERA]["max"].ravel(), cams.reshape(-1, 3).max(0) / 255)
    assert stats[CAMERA]["mean"].shape == (3, 1, 1) and stats["action"]["count"].tolist() == [len(ds)]


def test_round_trip_keeps_every_field(tmp_path, episodes):
    episodes.append(make_episode("sit", None, 6, 3, camera=False, audio=False))  # streams it lacks stay None
    back = import_lerobot(export_lerobot(episodes, tmp_path / "ds"))
    assert len(back) == len(episodes)
    for a, b in zip(episodes, back, strict=True):
        assert b.metadata() == a.metadata()
        for name in ("stamps_s", "joints", "imu", "action", "audio", "label_mask"):
            np.testing.assert_array_equal(getattr(b, name), getattr(a, name), err_msg=name)
        if a.camera is None:
            assert b.camera is None
        else:
            assert video_error(b.camera, a.camera) < VIDEO_TOLERANCE


@contextmanager
def _scheduling_restored():
    """SVT-AV1 (lerobot's default video codec) puts the calling thread under SCHED_FIFO when it runs as
    root; put the thread back, so the tests that run after this one in the same worker see a normal one."""
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        os.sched_setscheduler(0, policy, param)


@pytest.mark.parametrize("camera_dtype", ["video", "image"])  # video: lerobot's default codec, AV1
def test_import_of_a_dataset_lerobot_wrote(tmp_path, LeRobotDataset, camera_dtype):  # noqa: N803
    from robots import TrotController
    from robots.profile import SIM_JOINT_NAMES

    features = {  # the joints by the simulator's names, in another order than the project's
        "observation.state": {"dtype": "float32", "shape": (12,),
                              "names": [f"{j}.pos" for j in SIM_JOINT_NAMES[::-1]]},
        "observation.images.front": {"dtype": camera_dtype, "shape": (H, W, 3),
                                     "names": ["height", "width", "channels"]},
        "observation.audio": {"dtype": "int16", "shape": (SAMPLES,), "names": None},
        "action": {"dtype": "float32", "shape": (12,), "names": [f"{j}.target" for j in JOINT_NAMES]},
    }
    with _scheduling_restored():
        ds = LeRobotDataset.create("test/a1", fps=FPS, features=features, root=tmp_path / "lr",
                                   robot_type="unitree_a1", use_videos=camera_dtype == "video")
        rng, recorded = np.random.default_rng(0), []
        for e, (task, t) in enumerate([("sit: on cue clap", 8), ("Walk to the ball.", 6)]):
            pos = rng.normal(size=(t, 12)).astype(np.float32)
            action = rng.normal(size=(t, 12)).astype(np.float32)
            audio, video = rng.integers(-3000, 3000, (t, SAMPLES)).astype(np.int16), frames(t, e)
            for i in range(t):
                ds.add_frame({"observation.state": pos[i, ::-1].copy(), "observation.images.front": video[i],
                              "observation.audio": audio[i], "action": action[i], "task": task})
            ds.save_episode()
            recorded.append((pos, action, audio, video))
        ds.finalize()

    eps = import_lerobot(tmp_path / "lr")
    assert [(ep.skill, ep.cue, ep.action_mode, ep.source) for ep in eps] == [
        ("sit", "clap", "joint", "teleop"), ("walk_to_the_ball", None, "joint", "teleop")]
    for ep, (pos, action, audio, video) in zip(eps, recorded, strict=True):
        assert ep.control_hz == FPS and len(ep) == len(pos)
        np.testing.assert_array_equal(ep.joints[:, 0], pos)
        np.testing.assert_allclose(ep.joints[:, 1], np.gradient(pos, 1 / FPS, axis=0), rtol=1e-5, atol=1e-4)
        assert not ep.joints[:, 2].any()  # no efforts recorded
        np.testing.assert_array_equal(ep.action, action)
        np.testing.assert_array_equal(ep.audio, audio)
        np.testing.assert_array_equal(ep.imu, np.tile(REST_IMU, (len(ep), 1)))
        np.testing.assert_allclose(ep.stamps_s, np.arange(len(ep)) / FPS, atol=1e-6)
        assert video_error(ep.camera, video) < VIDEO_TOLERANCE
    stand = TrotController().stand_targets()
    hybrid = as_hybrid(eps[0], stand)  # what the teach policy learns: gait command 0, offsets from standing
    assert hybrid.action_mode == "hybrid" and hybrid.extra["teacher_action_mode"] == "joint"
    np.testing.assert_allclose(hybrid.action, np.concatenate([np.zeros((8, 3)), recorded[0][1] - stand], 1),
                               atol=1e-6)
    assert import_lerobot(tmp_path / "lr", skill="sit_pretty", cue="click")[1].skill == "sit_pretty"


def _edit_info(root, edit):
    info = json.loads((root / "meta" / "info.json").read_text())
    edit(info)
    (root / "meta" / "info.json").write_text(json.dumps(info))


@pytest.mark.parametrize("edit, camera, message", [
    (lambda info: info.update(codebase_version="v2.1"), None, "LeRobot v2.1 dataset; only v3.0"),
    (lambda info: info["features"].pop("action"), None, "no 'action' feature"),
    (lambda info: info["features"]["action"].update(shape=[6]), None, "'action' has 6 values"),
    (lambda info: info["features"].pop(STATE), None, "no 'observation.state' feature"),
    (lambda info: info["features"][STATE].update(shape=[6], names=list("abcdef")), None, "by name"),
    (lambda info: info["features"].pop(CAMERA), None, "no camera"),
    (None, "observation.images.wrist", "no camera feature 'observation.images.wrist'"),
    (lambda info: info["features"][AUDIO]["info"].update({"audio.sample_rate": 44_100}), None, "44100 Hz"),
    (lambda info: info.update(video_path="videos/{video_key}/x-{chunk_index}-{file_index}.mp4"), None,
     "is missing"),
])
def test_datasets_that_do_not_fit_are_refused_in_one_line(tmp_path, episodes, edit, camera, message):
    root = export_lerobot(episodes[:1], tmp_path / "ds")
    if edit is not None:
        _edit_info(root, edit)
    with pytest.raises(ValueError, match=message) as err:
        import_lerobot(root, camera=camera)
    assert "\n" not in str(err.value)


def test_bad_paths_and_exports_are_refused_in_one_line(tmp_path, episodes):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    cases = [
        (lambda: import_lerobot(tmp_path / "nothing"), "meta/info.json is missing"),
        (lambda: export_lerobot([], tmp_path / "a"), "no episodes"),
        (lambda: export_lerobot([episodes[0], make_episode("sit", None, 5, 4, control_hz=25)],
                                tmp_path / "b"), "one fps"),
        (lambda: export_lerobot([episodes[0], make_episode("sit", None, 5, 4, action_dim=12)],
                                tmp_path / "c"), "one action width"),
        (lambda: export_lerobot([make_episode("sit", None, 5, 4, control_hz=12.5)], tmp_path / "d"),
         "integer"),
        (lambda: export_lerobot(episodes, tmp_path / "full"), "not an empty folder"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message) as err:
            call()
        assert "\n" not in str(err.value)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary folder left behind


def test_cli_round_trip(tmp_path, episodes, capsys):
    from yan_dog.cli import main
    from yan_dog.teach_setup import SessionConfig, build_policy

    library = SkillLibrary(tmp_path / "lib")
    for ep in episodes:
        library.add_demo(ep)
    library.commit(build_policy(SessionConfig()))
    out = tmp_path / "dataset"
    lib, lib2 = str(tmp_path / "lib"), str(tmp_path / "lib2")
    assert main(["dataset", "export", "--format", "lerobot", "--library", lib, str(out)]) == 0
    assert "exported 3 demonstrations of sit, walk_forward" in capsys.readouterr().out
    assert main(["dataset", "import", str(out), "--library", lib2,
                 "--learn-seconds", "30", "--learn-steps", "1"]) == 0
    assert "imported 3 demonstrations of sit, walk_forward" in capsys.readouterr().out

    from yan_policy.policies.registry import load_policy

    copy = SkillLibrary(lib2)
    assert copy.load(load_policy) is not None and list(copy.skills) == ["sit", "walk_forward"]
    assert copy.skills["sit"].learn_seconds > 0
    for a, b in zip(episodes, copy.demos(), strict=True):
        assert b.metadata() == a.metadata()
        np.testing.assert_array_equal(b.joints, a.joints)
        np.testing.assert_array_equal(b.action, a.action)
        assert video_error(b.camera, a.camera) < VIDEO_TOLERANCE

    shutil.rmtree(lib2)
    for argv, message in [
        (["dataset", "import", str(tmp_path / "nothing"), "--library", lib2], "info.json is missing"),
        (["dataset", "export", "--library", lib, str(out)], "not an empty folder"),
        (["dataset", "export", "--library", str(tmp_path / "none"), str(tmp_path / "x")], "no skill library"),
    ]:
        with pytest.raises(SystemExit) as err:
            main(argv)
        text = str(err.value.code)
        assert text.startswith(f"yan-dog dataset {argv[1]}: ") and message in text and "\n" not in text
