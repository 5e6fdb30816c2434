"""Policies: the shared policy contract (`PolicyBase`) and the Yan policy (MCSD + sparse MLP + memory).

Dimension letters: B batch, T time (control ticks), D model width, A action dim, K action chunk.

Contract (every registered policy, see `yan_policy.policies.registry`):
    loss, logs = policy(batch)                     training, parallel over (B, T)
    state = policy.initial_state()                 recurrent state: a flat dict of tensors
    action, state = policy.step(obs, state)        one control tick, constant cost for Yan
    chunk, state = policy.step_chunk(obs, state)   the next K actions predicted at this tick
    action = policy.select_action(obs); policy.reset()   the same with an internal state
    policy.save(dir); Policy.load(dir)             safetensors + config.json, written atomically

Observation `obs` (one tick, numpy or torch, no batch dims); a key that is absent or None is missing:
    "camera" uint8 (H, W, 3) RGB any size | "audio" int16 (S,) | "joints" float (3, 12) | "imu" float (10,)

Training `batch` (numpy or torch), leading dims (B, T):
    "camera" uint8 (B, T, H, W, 3), "audio" int16 (B, T, S), "joints" float (B, T, 3, 12),
    "imu" float (B, T, 10)             any stream key may be left out (then missing everywhere);
    "<stream>_present" bool (B, T)    optional per-tick presence (default: present);
    "action" float (B, T, A)          teacher actions in robot units;
    "mask" bool (B, T)                optional, False marks padding after an episode's end;
    "weight" float (B, T)             optional per-tick loss weight (default 1; the learner weights
                                      the onset of a motion, where the cue decides what to do);
    "cue_target" int (B, T)           optional: the cue head's label per tick (0: no cue heard yet,
                                      1..: the episode's cue, -1: no label), for the cue loss.
The head predicts, at tick t, actions t .. t+K-1; the loss (L1 or MSE on actions normalised with
`set_action_normalization`) covers the chunk entries that fall on valid ticks of the same episode.
Episodes in a batch start from the initial state; padding goes at the end.

Recurrent state (flat dict, so `checkpoint.save_state` stores it as one safetensors file):
    "audio_context" (B, n_fft) ring buffer (with the utterance audio front end also its frame buffers
    "audio.conv{i}" and "audio.feats", `yan_policy.modules.utterance`); with `imu_heading_frame`,
    "imu.heading_rad" (B,) the start heading and "imu.has_heading" (B,) 1.0 once it is set; with
    `cue_latch`, "cue.held" (B, cue_classes)
    the cue belief held since the cue head was sure and "cue.is_held" (B,) 1.0 once it holds one; plus the
    backbone's keys; for Yan
    "mcsd{i}.s" (B, C, Dc), "mcsd{i}.z" (B, C, 1), "mcsd{i}.d" (B, C, Dc) and
    "memory.w1", "memory.w2", "memory.s1", "memory.s2" (the native memory's weights and momenta).
Two lifetimes: the native memory (`lifetime_keys`) lives for the robot's lifetime, carried from try to
try (`initial_state(keep=state)`) and saved with the skill library; every other key is per episode.
"""

from __future__ import annotations

import inspect
import json
import math
from abc import ABCMeta, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from yan_policy.data.checkpoint import save_json_atomic, save_safetensors_atomic
from yan_policy.modules.fastops import linear, rms_norm
from yan_policy.modules.tokenizers import ObservationEncoder, _as_tensor
from yan_policy.policies.config import PolicyConfig

State = dict[str, torch.Tensor]
WEIGHTS_FILE, CONFIG_FILE = "model.safetensors", "config.json"
# what checkpoints written before these options existed were built with
PRE_CUE_HEADS_CONFIG = {"cue_heads": False, "cue_latch": 0.0}
PRE_HEADING_FRAME_TOKENIZER = {"imu_heading_frame": False, "camera_keypoints": 0}  # (added together)
PRE_CAMERA_POOL_TOKENIZER = {"camera_pool": "avg"}
PRE_UTTERANCE_TOKENIZER = {"audio_frontend": "mel_ticks"}  # the per-tick log-mel tokens
PRE_SELECTIVE_MCSD = {"selective": False}  # the paper's fixed rates


class ActionHead(nn.Module):
    """y (..., D) -> normalised action chunk (..., K, A); holds the action normalisation.

    With `n_cues` > 0 the head also holds one linear map per cue class, mixed by the cue belief q
    (..., C): chunk = P ŷ + Σ_c q_c (W_c ŷ + b_c), ŷ the normalised input. Each skill then has outputs of
    its own, so a drifting closed-loop state cannot as easily steer the shared map toward another
    skill's motion (see PolicyConfig.cue_heads).
    """

    def __init__(self, d_model: int, action_dim: int, chunk: int, n_cues: int = 0) -> None:
        super().__init__()
        self.action_dim, self.chunk, self.n_cues = action_dim, chunk, n_cues
        self.norm = nn.RMSNorm(d_model)
        self.proj = nn.Linear(d_model, chunk * action_dim)
        if n_cues:  # all the per-cue maps side by side, so one matmul computes them
            # Zero at first: a new cue's map then adds nothing until training grows it (a random init had
            # to be unlearned first: docs/experiments.md, 2026-11-24: zero-initialised per-cue maps)
            self.cue_w = nn.Parameter(torch.zeros(d_model, n_cues * chunk * action_dim))  # (D, C K A)
            self.cue_b = nn.Parameter(torch.zeros(n_cues, chunk * action_dim))
        self.register_buffer("action_mean", torch.zeros(action_dim))
        self.register_buffer("action_std", torch.ones(action_dim))

    def forward(self, y: torch.Tensor, q: torch.Tensor | None = None) -> torch.Tensor:
        """y (..., D), optional cue belief q (..., C) -> (..., K, A)."""
        yn = rms_norm(self.norm, y)  # (..., D)
        pred = linear(self.proj, yn)  # (..., K A)
        if self.n_cues and q is not None:
            per_cue = (yn @ self.cue_w).unflatten(-1, (self.n_cues, -1)) + self.cue_b  # (..., C, K A)
            pred = pred + (q.unsqueeze(-2) @ per_cue).squeeze(-2)  # (..., K A)
        return pred.unflatten(-1, (self.chunk, self.action_dim))  # (..., K, A)

    def normalize(self, action: torch.Tensor) -> torch.Tensor:
        return (action - self.action_mean) / self.action_std

    def denormalize(self, action: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.action_mean, action, self.action_std)  # action * std + mean


def chunk_targets(action: torch.Tensor, mask: torch.Tensor, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """action (B, T, A), mask (B, T) -> targets (B, T, K, A) = action[t + j], valid (B, T, K)."""
    padded = F.pad(action, (0, 0, 0, chunk - 1))  # (B, T + K - 1, A)
    targets = padded.unfold(1, chunk, 1).transpose(-1, -2)  # (B, T, K, A)
    padded_mask = torch.cat([mask, mask.new_zeros(mask.shape[0], chunk - 1)], dim=1)  # (B, T + K - 1)
    valid = padded_mask.unfold(1, chunk, 1)  # (B, T, K)
    return targets, valid & mask[..., None]


class PolicyBase(nn.Module, metaclass=ABCMeta):
    """Tokenizers + a backbone + an action-chunk head, behind the policy contract (module docstring).

    An abstract base: a subclass must set `name` (checked when the class is defined, so a policy can
    never be saved or registered nameless) and implement `build_backbone(config)`; everything else in
    the contract (`forward`, `step`, `step_chunk`, `select_action`, `reset`, `save`, `load`) is shared,
    so every policy is trained, run and stored the same way. A backbone offers
    `initial_state(batch_size, dtype) -> dict`, `forward(x (B, T, D), state) -> (y, state, aux_loss)`
    and `step(x (B, D), state) -> (y, state)`; state dicts hold only the backbone's own keys.

    Args:
        config: the shared policy config (default: `PolicyConfig()`).
    """

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not inspect.isabstract(cls) and not (isinstance(cls.name, str) and cls.name):
            raise TypeError(f"{cls.__name__} must set a non-empty class attribute `name`")

    def __init__(self, config: PolicyConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or PolicyConfig()
        self.encoder = ObservationEncoder(config.tokenizer, config.d_model)
        self.backbone = self.build_backbone(config)
        self.head = ActionHead(config.d_model, config.action_dim, config.chunk,
                               config.cue_classes if config.cue_heads else 0)
        # which cue asked for this episode, from the backbone output; conditions the actions (PolicyConfig)
        self.cue_head = self.cue_embed = None
        if config.cue_classes:
            self.cue_head = nn.Linear(config.d_model, config.cue_classes)
            self.cue_embed = nn.Linear(config.cue_classes, config.d_model, bias=False)
            nn.init.normal_(self.cue_embed.weight, std=1.0 / math.sqrt(config.cue_classes))
        self._state: State | None = None
        # the cue belief (cue_classes,) the last `step_chunk` mixed the actions by (a new array each step;
        # None before the first step or without a cue head): what a live view shows
        self.cue_belief: np.ndarray | None = None

    @abstractmethod
    def build_backbone(self, config: PolicyConfig) -> nn.Module:
        """The policy's backbone module for `config` (see the class docstring for its interface)."""

    @property
    def dtype(self) -> torch.dtype:
        return self.head.proj.weight.dtype

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def set_action_normalization(self, mean: Any, std: Any) -> None:
        """Actions are learned as (action - mean) / std; std must be > 0 (add a floor for constant joints)."""
        mean = torch.as_tensor(np.asarray(mean), dtype=self.dtype).reshape(-1)
        std = torch.as_tensor(np.asarray(std), dtype=self.dtype).reshape(-1)
        if mean.shape != (self.config.action_dim,) or std.shape != mean.shape:
            raise ValueError(f"mean and std need shape ({self.config.action_dim},), got "
                             f"{tuple(mean.shape)}, {tuple(std.shape)}")
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all() and (std > 0).all()):
            raise ValueError("action std must be finite and > 0 and the mean finite")
        self.head.action_mean.copy_(mean)
        self.head.action_std.copy_(std)

    # -- recurrent state --------------------------------------------------------------------------

    def _initial_state(self, batch_size: int) -> State:
        cue = {}
        if self._latches:  # nothing held yet
            cue = {"cue.held": torch.zeros(batch_size, self.config.cue_classes, dtype=self.dtype),
                   "cue.is_held": torch.zeros(batch_size, dtype=self.dtype)}
        return {**self.encoder.initial_state(batch_size, self.dtype),
                **self.backbone.initial_state(batch_size, self.dtype), **cue}

    @property
    def _latches(self) -> bool:
        return self.cue_head is not None and self.config.cue_latch > 0

    def lifetime_keys(self) -> tuple[str, ...]:
        """The state keys that live for the robot's lifetime, not one try (Yan: the native memory's
        "memory.*"; none for the baselines). Everything else (MCSD sums, the audio buffer, the start
        heading, the cue latch) is per episode: a try starts it afresh."""
        return tuple(getattr(self.backbone, "lifetime_keys", ()))

    def initial_state(self, batch_size: int = 1, keep: Mapping[str, torch.Tensor] | None = None) -> State:
        """A fresh recurrent state (detached copies, safe to keep while the weights train).

        keep: a state (or only its lifetime part, `lifetime_state`) whose `lifetime_keys` entries are
        carried into the new state: the start of a new try in the same robot's life. Each must have the
        fresh entry's shape; ValueError otherwise.
        """
        with torch.no_grad():
            fresh = {k: v.detach().clone() for k, v in self._initial_state(batch_size).items()}
            for key in self.lifetime_keys() if keep is not None else ():
                kept = keep.get(key)
                if not isinstance(kept, torch.Tensor) or kept.shape != fresh[key].shape:
                    got = "nothing" if kept is None else f"shape {tuple(getattr(kept, 'shape', ()))}"
                    raise ValueError(f"lifetime state {key!r}: expected shape {tuple(fresh[key].shape)}, "
                                     f"got {got}")
                fresh[key] = kept.detach().to(fresh[key].dtype).clone()
            return fresh

    def lifetime_state(self, state: Mapping[str, torch.Tensor] | None = None) -> State:
        """The lifetime part of `state` (default: of a fresh state), as detached copies: what the skill
        library saves beside the weights (`SkillLibrary.commit(policy, memory)`)."""
        state = self.initial_state() if state is None else state
        with torch.no_grad():
            return {k: state[k].detach().clone() for k in self.lifetime_keys()}

    def reset(self, keep_memory: bool = True) -> None:
        """Start a new episode for `select_action`: its per-episode state starts afresh; the lifetime
        part (`lifetime_keys`) is carried unless `keep_memory` is False."""
        self._state = self.initial_state(keep=self._state) if keep_memory and self._state else None

    # -- sequences (training) ---------------------------------------------------------------------

    def _cue_select(self, y: torch.Tensor, state: State
                    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, State]:
        """Backbone output y (B, T, D) -> (action-head input y + E q, cue logits, cue belief q, cue state).

        q is the cue head's softmax; with `cue_latch`, from the first tick whose most likely cue (class
        >= 1) has probability >= cue_latch on, q is that tick's softmax, held in the state until it is
        reset. Parallel over T and tick by tick alike."""
        if self.cue_head is None:
            return y, None, None, {}
        logits = linear(self.cue_head, y)  # (B, T, C)
        p = torch.softmax(logits, dim=-1)  # (B, T, C)
        if not self._latches:
            return y + linear(self.cue_embed, p), logits, p, {}
        held, is_held = state["cue.held"], state["cue.is_held"] > 0.5  # (B, C), (B,)
        sure = p[..., 1:].amax(-1) >= self.config.cue_latch  # (B, T)
        first = sure.to(torch.uint8).argmax(dim=1)  # (B,) the first sure tick (0 if none)
        newly = ~is_held & sure.any(1)  # (B,) nothing held before this window, something sure in it
        held = torch.where(newly[:, None], p[torch.arange(p.shape[0]), first], held)  # (B, C)
        holding = is_held[:, None] | (sure.cumsum(1) > 0)  # (B, T) held before, or from the first sure tick
        q = torch.where(holding[..., None], held[:, None], p)  # (B, T, C)
        cue_state = {"cue.held": held, "cue.is_held": (is_held | newly).to(y.dtype)}
        return y + linear(self.cue_embed, q), logits, q, cue_state

    def _run(self, batch: Mapping[str, Any], state: State | None
             ) -> tuple[torch.Tensor, State, torch.Tensor, torch.Tensor | None]:
        """-> normalised action chunks (B, T, K, A), final state, backbone aux loss, cue logits."""
        streams = self.encoder.streams_from_batch(batch)
        if state is None:
            state = self._initial_state(streams.present.shape[0])
        x, enc_state = self.encoder(streams, state)  # (B, T, D)
        y, bb_state, aux = self.backbone(x, state)  # (B, T, D)
        h, cue_logits, q, cue_state = self._cue_select(y, state)
        return self.head(h, q), {**enc_state, **bb_state, **cue_state}, aux, cue_logits

    def predict_sequence(self, batch: Mapping[str, Any], state: State | None = None
                         ) -> tuple[torch.Tensor, State]:
        """Parallel form over a (B, T) window: action chunks (B, T, K, A) in robot units, final state.

        Continuing from the returned state gives exactly what `step` would have given tick by tick.
        """
        pred, state, _, _ = self._run(batch, state)
        return self.head.denormalize(pred), state

    def forward(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Behaviour-cloning loss over a batch of episodes (format in the module docstring)."""
        if batch.get("action") is None:
            raise ValueError("batch: 'action' (B, T, A) is required for the loss")
        action = _as_tensor(batch["action"], "action").to(self.dtype)
        b, t = action.shape[:2]
        if action.ndim != 3 or action.shape[-1] != self.config.action_dim:
            raise ValueError(f"action: expected shape (B, T, {self.config.action_dim}), "
                             f"got {tuple(action.shape)}")
        mask = batch.get("mask")
        mask = torch.ones(b, t, dtype=torch.bool) if mask is None else _as_tensor(mask, "mask")
        if mask.dtype != torch.bool or tuple(mask.shape) != (b, t):
            raise ValueError(f"mask: expected bool (B, T) = {(b, t)}, got {mask.dtype} {tuple(mask.shape)}")
        if not torch.isfinite(action[mask]).all():
            raise ValueError("action: contains NaN or inf at unmasked ticks")
        pred, _, aux, cue_logits = self._run(batch, None)  # (B, T, K, A), (B, T, cue_classes)
        if pred.shape[:2] != (b, t):
            raise ValueError(f"action: (B, T) = {(b, t)} differs from the streams' {tuple(pred.shape[:2])}")
        targets, valid = chunk_targets(self.head.normalize(torch.where(mask[..., None], action, 0.0)),
                                       mask, self.config.chunk)
        err = pred - targets
        per_entry = err.abs() if self.config.loss == "l1" else err.square()  # (B, T, K, A)
        weight = valid[..., None].to(per_entry.dtype)  # (B, T, K, 1)
        tick_weight = batch.get("weight")
        if tick_weight is not None:
            tick_weight = _as_tensor(tick_weight, "weight").to(per_entry.dtype)
            if tuple(tick_weight.shape) != (b, t) or not (torch.isfinite(tick_weight).all()
                                                         and (tick_weight >= 0).all()):
                raise ValueError(f"weight: expected finite float >= 0 of shape {(b, t)}, "
                                 f"got {tuple(tick_weight.shape)}")
            weight = weight * tick_weight[..., None, None]
        action_loss = (per_entry * weight).sum() / (weight.sum() * self.config.action_dim).clamp_min(1.0)
        cue_loss = self._cue_loss(batch, cue_logits, mask)
        loss = action_loss + aux + self.config.cue_loss_weight * cue_loss
        logs = {"loss": loss.item(), "action_loss": action_loss.item(), "aux_loss": float(aux.detach()),
                "cue_loss": float(cue_loss.detach())}
        return loss, logs

    def _cue_loss(self, batch: Mapping[str, Any], logits: torch.Tensor | None, mask: torch.Tensor
                  ) -> torch.Tensor:
        """Cross-entropy of the cue head at the labelled ticks of `cue_target` (0 without labels)."""
        if logits is None or batch.get("cue_target") is None:
            return mask.new_zeros((), dtype=self.dtype)
        b, t = mask.shape
        target = _as_tensor(batch["cue_target"], "cue_target")
        if target.dtype.is_floating_point or target.dtype == torch.bool or tuple(target.shape) != (b, t):
            raise ValueError(f"cue_target must be int {(b, t)}, got {target.dtype} {tuple(target.shape)}")
        target = target.long()
        if (target >= self.config.cue_classes).any() or (target < -1).any():
            raise ValueError(f"cue_target must be in -1..cue_classes-1={self.config.cue_classes - 1}, got "
                             f"{sorted(set(target.flatten().tolist()))}")
        sel = mask & (target >= 0)  # (B, T)
        if not sel.any():
            return logits.new_zeros(())
        return F.cross_entropy(logits[sel], target[sel])

    # -- one tick (inference) ---------------------------------------------------------------------

    @torch.inference_mode()
    def step_chunk(self, obs: Mapping[str, Any], state: State) -> tuple[np.ndarray, State]:
        """One control tick: the next K actions (K, A) float32 in robot units, and the new state.

        Runs in inference mode (~15 % faster per tick than no_grad), so the returned state holds
        inference tensors: clone them (outside inference mode) before using them in autograd.
        """
        streams = self.encoder.streams_from_obs(obs)
        x, enc_state = self.encoder.forward(streams, state)  # (1, 1, D); .forward: see modules/fastops
        y, bb_state = self.backbone.step(x[:, 0], state)  # (1, D)
        h, _, q, cue_state = self._cue_select(y[:, None], state)  # (1, 1, D)
        chunk = self.head.denormalize(self.head.forward(h, q))[0, 0]  # (K, A)
        self.cue_belief = None if q is None else q[0, 0].float().numpy()  # (C,)
        return chunk.float().numpy(), {**enc_state, **bb_state, **cue_state}

    def step(self, obs: Mapping[str, Any], state: State) -> tuple[np.ndarray, State]:
        """One control tick: the action to apply now, (A,) float32, and the new state."""
        chunk, state = self.step_chunk(obs, state)
        return chunk[0], state

    def select_action(self, obs: Mapping[str, Any]) -> np.ndarray:
        """`step` with an internal state (cleared by `reset`)."""
        if self._state is None:
            self._state = self.initial_state()
        action, self._state = self.step(obs, self._state)
        return action

    # -- checkpoints ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write `model.safetensors` (weights, with the config in its metadata) and `config.json`
        into the directory `path`, each atomically (temp file + os.replace)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        config = self.config.to_dict()
        metadata = {"policy": self.name, "config": json.dumps(config)}
        save_safetensors_atomic(self.state_dict(), path / WEIGHTS_FILE, metadata)
        save_json_atomic({"policy": self.name, "config": config}, path / CONFIG_FILE)

    @classmethod
    def load(cls, path: str | Path) -> PolicyBase:
        """Rebuild a policy saved with `save`; the weights file alone is enough (config in its metadata)."""
        name, config = read_checkpoint_header(path)
        if name != cls.name:
            raise ValueError(f"{path}: holds a {name!r} policy, not {cls.name!r}; use load_policy")
        policy = cls(config)
        policy.load_state_dict(load_file(Path(path) / WEIGHTS_FILE))
        return policy


def read_checkpoint_header(path: str | Path) -> tuple[str, PolicyConfig]:
    """(policy name, config) from a checkpoint directory written by `PolicyBase.save`."""
    weights = Path(path) / WEIGHTS_FILE
    if not weights.is_file():
        raise ValueError(f"{path}: no {WEIGHTS_FILE}")
    with safe_open(str(weights), framework="pt") as f:
        meta = f.metadata() or {}
    if "policy" not in meta or "config" not in meta:
        raise ValueError(f"{weights}: metadata lacks 'policy' / 'config'; not written by PolicyBase.save")
    # a config written before these options existed lacks them: the policy was built (and trained) without
    config = {**PRE_CUE_HEADS_CONFIG, **json.loads(meta["config"])}
    if isinstance(config.get("tokenizer"), dict):
        old = {**PRE_HEADING_FRAME_TOKENIZER, **PRE_CAMERA_POOL_TOKENIZER, **PRE_UTTERANCE_TOKENIZER}
        config["tokenizer"] = {**old, **config["tokenizer"]}
    if isinstance(config.get("mcsd"), dict):
        config["mcsd"] = {**PRE_SELECTIVE_MCSD, **config["mcsd"]}
    return meta["policy"], PolicyConfig.from_dict(config)
