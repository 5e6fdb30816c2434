"""`yan_dog.teaching_protocol`: the scripted teaching session as a state machine (no ROS)."""

import json

import pytest

from yan_dog.teach_setup import draw_demo_gait_gain
from yan_dog.teaching_protocol import TeachingConfig, TeachingProtocol

DT_S = 0.02


def begin(proto, source="teleop"):
    """Start the session and answer its read of the brain's demo_source; returns the next requests."""
    (req,) = proto.start(0.0)
    assert req.kind == "read_brain" and req.args == {"names": ["demo_source"]}
    return proto.on_response("read_brain", True, source, 0.0)


def run_demo(proto, episode: int, success=True):
    """Answer the set-up requests of one demonstration and feed statuses until it asks to stop."""
    kinds = []
    (req,) = proto.on_response("configure_sim", True, "", 0.0)
    kinds.append(req.kind)
    (req,) = proto.on_response("reset_sim", True, json.dumps({"episode": episode}), 0.0)
    kinds.append(req.kind)
    gain = draw_demo_gait_gain(proto.seed, proto.config.demo_gait_gain_range)
    assert req.args == {"skill": proto.config.skill, "demo_source": "scripted", "demo_gait_gain": gain}
    (req,) = proto.on_response("configure_brain", True, "", 0.0)
    kinds.append(req.kind)
    assert proto.on_response("start_demo", True, "", 0.0) == [] and proto.relaying
    t = 0.0
    while True:
        t = round(t + DT_S, 6)
        proto.on_relayed()
        # a stale status of the previous episode is ignored
        assert proto.on_status({"episode": episode - 1, "time_s": 99.0}, t) == []
        reqs = proto.on_status({"episode": episode, "time_s": t, "success": success, "fallen": False}, t)
        if reqs:
            kinds.append(reqs[0].kind)
            if reqs[0].kind == "play_cue":
                assert proto.on_response("play_cue", True, "", t) == []
                continue
            break
    return kinds, t


def test_session_runs_k_demos_in_order_with_distinct_seeds():
    proto = TeachingProtocol(TeachingConfig(skill="sit", demos=2, seed_base=10, save_skill=True))
    (req,) = begin(proto)
    assert req.kind == "configure_sim" and req.args == {"skill": "sit", "seed": 10, "play_cue": True}
    kinds, t = run_demo(proto, episode=2)
    assert kinds == ["reset_sim", "configure_brain", "start_demo", "stop_demo"]
    assert abs(t - 4.0) < 1e-9 and not proto.relaying
    (req,) = proto.on_response("stop_demo", True, "", t)
    assert req.kind == "configure_sim" and req.args["seed"] == 11
    run_demo(proto, episode=3, success=False)
    (req,) = proto.on_response("stop_demo", True, "", t)
    assert req.kind == "save_skill"
    (req,) = proto.on_response("save_skill", True, "", t)
    assert req.kind == "restore_brain" and req.args == {"demo_source": "teleop"} and not proto.finished
    assert proto.on_response("restore_brain", True, "", t) == [] and proto.finished and proto.error is None
    assert [(r.seed, r.success, r.relayed) for r in proto.results] == [(10, True, 200), (11, False, 200)]
    gains = [r.gait_gain for r in proto.results]
    assert all(0.8 <= g <= 1.0 for g in gains) and gains[0] != gains[1]  # the default range, per seed


def test_the_gait_gain_is_the_one_a_sim_session_draws_for_the_same_seed():
    """A demonstration on sim seed s runs at the same speed over ROS 2 as in a TeachSession."""
    proto = TeachingProtocol(TeachingConfig(skill="turn_left", demos=1, seed_base=1000,
                                            demo_gait_gain_range=(0.6, 0.9)))
    begin(proto)
    proto.on_response("configure_sim", True, "", 0.0)
    (req,) = proto.on_response("reset_sim", True, '{"episode": 1}', 0.0)
    assert req.args["demo_gait_gain"] == draw_demo_gait_gain(1000, (0.6, 0.9))
    assert 0.6 <= req.args["demo_gait_gain"] <= 0.9
    same = TeachingProtocol(TeachingConfig(skill="turn_left", demos=1, demo_gait_gain_range=(1.0, 1.0)))
    assert same.gait_gain == 1.0


def test_service_cue_mode_plays_the_cue_at_its_time():
    proto = TeachingProtocol(TeachingConfig(skill="sit", demos=1, cue_mode="service", cue_at_s=0.5))
    (req,) = begin(proto)
    assert req.args["play_cue"] is False
    kinds, _ = run_demo(proto, episode=1)
    assert kinds == ["reset_sim", "configure_brain", "start_demo", "play_cue", "stop_demo"]


def test_a_refused_request_fails_the_session():
    proto = TeachingProtocol(TeachingConfig(skill="sit", demos=1))
    begin(proto)
    (req,) = proto.on_response("configure_sim", False, "no such node", 0.0)
    assert req.kind == "restore_brain"
    assert proto.on_response("restore_brain", True, "", 0.0) == []
    assert proto.finished and proto.phase == "failed" and "configure_sim failed: no such node" in proto.error


def test_a_silent_sim_during_a_demo_stops_the_demo_then_fails():
    proto = TeachingProtocol(TeachingConfig(skill="sit", demos=1, status_timeout_s=1.0))
    begin(proto)
    proto.on_response("configure_sim", True, "", 0.0)
    proto.on_response("reset_sim", True, '{"episode": 4}', 0.0)
    proto.on_response("configure_brain", True, "", 0.0)
    proto.on_response("start_demo", True, "", 0.0)
    assert proto.on_clock(0.5) == []
    (req,) = proto.on_clock(1.5)
    assert req.kind == "stop_demo" and not proto.relaying
    (req,) = proto.on_response("stop_demo", True, "", 1.6)
    assert req.kind == "restore_brain" and req.args == {"demo_source": "teleop"}  # put back even so
    assert proto.on_response("restore_brain", True, "", 1.6) == [] and proto.phase == "failed"
    assert "no sim status" in proto.error


def test_the_brain_gets_back_the_demo_source_it_had():
    proto = TeachingProtocol(TeachingConfig(skill="sit", demos=1))
    begin(proto, source="bag")
    run_demo(proto, episode=1)
    (req,) = proto.on_response("stop_demo", True, "", 4.0)
    assert req.kind == "restore_brain" and req.args == {"demo_source": "bag"}
    assert proto.on_response("restore_brain", False, "refused", 4.0) == []
    assert proto.phase == "failed" and proto.error == "restore_brain failed: refused"


def test_an_unreadable_brain_fails_the_session_before_anything_is_changed():
    proto = TeachingProtocol(TeachingConfig(skill="sit", demos=1))
    proto.start(0.0)
    assert proto.on_response("read_brain", False, "no demo_source parameter", 0.0) == []
    assert proto.phase == "failed" and "read_brain failed" in proto.error


def test_a_fall_ends_the_demo_early():
    proto = TeachingProtocol(TeachingConfig(skill="sit", demos=1))
    begin(proto)
    proto.on_response("configure_sim", True, "", 0.0)
    proto.on_response("reset_sim", True, '{"episode": 1}', 0.0)
    proto.on_response("configure_brain", True, "", 0.0)
    proto.on_response("start_demo", True, "", 0.0)
    (req,) = proto.on_status({"episode": 1, "time_s": 1.0, "fallen": True}, 1.0)
    assert req.kind == "stop_demo" and proto.results[0].fallen


@pytest.mark.parametrize(
    "field, value",
    [("demos", 0), ("seed_base", -1), ("cue_mode", "shout"), ("episode_s", -1.0), ("cue_at_s", 9.0),
     ("demo_gait_gain_range", (0.9, 0.5)), ("demo_gait_gain_range", (0.0, 1.0))],
)
def test_config_rejects_bad_fields_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        TeachingConfig(skill="sit", **{field: value})
    with pytest.raises(KeyError, match="fly"):
        TeachingConfig(skill="fly")
