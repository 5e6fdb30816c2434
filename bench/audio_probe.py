"""Offline dev probe of the audio front ends: which one tells spoken words apart from 3 utterances each.

Only the front end and a linear cue classifier are trained (no policy, no sim): 5 command words, each said
3 times by demonstration voices (`sim.speech.random_voice(rng, "demo")`) in 1.6 s clips of pink noise at
20 dB SNR (as `sim.microphone` defines it: cue RMS over its duration / noise RMS, noise 0.01 full scale).
The classifier reads the front end's tokens every 20 ms tick and is trained like the policy's cue head:
class 0 ("nothing yet") before the word, the word's class from 0.1 s after its end for 0.6 s, no label
during the word; plus 10 synthetic non-speech clips (noise bursts, tone sequences) labelled 0 throughout.
A clip's answer is the first tick whose most likely word has probability >= 0.9 (the
policy's `cue_latch`), else none.

Evaluated on voices no demonstration used (`"eval"` speakers): word accuracy at 20 dB and 10 dB SNR,
and how often non-command audio (other words, noise bursts, music-like tone sequences; 20 dB) latches a
command, as a rate per clip and per minute.

Front ends:
- `mel_ticks`: today's tokenizer, each tick's two log-mel frame tokens into the classifier;
- `mel_ticks_pooled`: the same tokens, max- and mean-pooled over the last second (the most a backbone
  could make of them linearly: a generous version of the old front end);
- `utterance`: the new front end (`yan_policy.modules.utterance`), one token per tick.
Each with and without the train-time cue augmentation (`yan_policy.training.audio_augment`), over seeds.

    .venv/bin/python bench/audio_probe.py --seeds 0 1 2 --out bench/results/2026-12-07_audio_probe.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import format_table, machine_info, time_calls, write_json  # noqa: E402
from yan_policy.modules.tokenizers import AudioTokenizer  # noqa: E402
from yan_policy.modules.utterance import UtteranceTokenizer  # noqa: E402
from yan_policy.policies.config import TokenizerConfig  # noqa: E402
from yan_policy.training.audio_augment import augment_cue_audio, coloured_noise  # noqa: E402

RATE, TICK = 16000, 320
CLIP_TICKS = 80  # 1.6 s
WORDS = ("sit", "come", "stay", "down", "roll over")
OTHER_WORDS = ("hello", "dinner", "good dog", "outside", "kitchen", "later")
NOISE_RMS = 0.01
LATCH = 0.9
POOL_TICKS = 50  # 1 s, for mel_ticks_pooled
TRAIN_NEGATIVES = 10  # synthetic non-speech clips (noise bursts, tone sequences) trained as "nothing"
FRONTENDS = ("mel_ticks", "mel_ticks_pooled", "utterance")


def place(word: np.ndarray, snr_db: float, start_s: float, rng: np.random.Generator) -> np.ndarray:
    """A clip (CLIP_TICKS * TICK,) float: pink noise of RMS NOISE_RMS with `word` at snr_db from start_s."""
    x = NOISE_RMS * coloured_noise(CLIP_TICKS * TICK, rng, pink=True)
    if word.size:
        w = word.astype(np.float64) * NOISE_RMS * 10 ** (snr_db / 20) / np.sqrt(np.mean(np.square(word)))
        a = round(start_s * RATE)
        w = w[: len(x) - a]
        x[a:a + len(w)] += w
    return x


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)


def labels(start_s: float, n_word: int) -> np.ndarray:
    """Per-tick cue labels of a command clip: 0 before the word, -1 during it, `1` (placeholder) after."""
    y = np.full(CLIP_TICKS, -1, np.int64)
    first = int(start_s * RATE) // TICK
    end = (int(start_s * RATE) + n_word) // TICK + 5  # 0.1 s after the word
    y[:first] = 0
    y[end:end + 30] = 1
    return y


def music(rng: np.random.Generator) -> np.ndarray:
    """3-5 harmonic notes of 0.12-0.25 s (a music-like tone sequence)."""
    notes = []
    for _ in range(rng.integers(3, 6)):
        f0 = 220.0 * 2 ** (rng.integers(0, 24) / 12)
        t = np.arange(round(rng.uniform(0.12, 0.25) * RATE)) / RATE
        notes.append(sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 5)) * np.hanning(len(t)))
    return np.concatenate(notes)


class Probe(torch.nn.Module):
    """A front end + a linear classifier over (B, T) ticks of audio."""

    def __init__(self, frontend: str, n_classes: int) -> None:
        super().__init__()
        self.frontend = frontend
        cfg = TokenizerConfig(audio_frontend="utterance" if frontend == "utterance" else "mel_ticks")
        self.tok = UtteranceTokenizer(cfg) if frontend == "utterance" else AudioTokenizer(cfg)
        width = cfg.token_dim * self.tok.n_tokens * (2 if frontend == "mel_ticks_pooled" else 1)
        self.head = torch.nn.Linear(width, n_classes)

    def forward(self, audio: np.ndarray) -> torch.Tensor:
        """int16 (B, T, S) -> logits (B, T, classes)."""
        x = torch.from_numpy(audio.astype(np.float32) / 32768.0)
        tokens, _ = self.tok.forward_state(x, self.tok.initial_state(x.shape[0], torch.float32))
        h = tokens.flatten(2)  # (B, T, Na W)
        if self.frontend == "mel_ticks_pooled":  # causal 1 s max and mean over ticks
            seq = F.pad(h.transpose(1, 2), (POOL_TICKS - 1, 0), value=0.0)  # (B, Na W, T + P - 1)
            pooled = [F.max_pool1d(seq, POOL_TICKS, 1), F.avg_pool1d(seq, POOL_TICKS, 1)]
            h = torch.cat(pooled, 1).transpose(1, 2)
        return self.head(h)


def answers(logits: torch.Tensor) -> np.ndarray:
    """The latched word per clip (class >= 1) or 0 for none, (B,)."""
    p = torch.softmax(logits, -1)[..., 1:]  # (B, T, words)
    top, which = p.max(-1)  # (B, T)
    sure = top >= LATCH
    first = sure.to(torch.uint8).argmax(1)
    out = which[torch.arange(len(which)), first] + 1
    return torch.where(sure.any(1), out, 0).numpy()


def make_sets(seed: int, n_eval: int):
    from sim.speech import random_voice, speak

    rng = np.random.default_rng(seed)
    train = []  # (int16 clip, labels), 3 per word
    for c, word in enumerate(WORDS, start=1):
        for _ in range(3):
            w = speak(word, random_voice(rng, "demo"))
            start = rng.uniform(0.2, 0.4)
            y = labels(start, len(w))
            train.append((place(w, 20.0, start, rng), np.where(y == 1, c, y)))
    for i in range(TRAIN_NEGATIVES):  # non-speech events, "nothing" at every tick (not the eval ones)
        n = round(rng.uniform(0.1, 0.6) * RATE)
        event = music(rng) if i % 2 else rng.standard_normal(n) * np.hanning(n)
        train.append((place(event, 20.0, rng.uniform(0.1, 0.6), rng), np.zeros(CLIP_TICKS, np.int64)))
    evals = {}
    for snr in (20.0, 10.0):
        clips, truth = [], []
        for c, word in enumerate(WORDS, start=1):
            for _ in range(n_eval):
                w = speak(word, random_voice(rng, "eval"))
                clips.append(to_int16(place(w, snr, rng.uniform(0.2, 0.4), rng)))
                truth.append(c)
        evals[f"{snr:.0f}dB"] = (np.stack(clips), np.array(truth))
    negatives = {"other_words": [], "noise_bursts": [], "music": []}
    for word in OTHER_WORDS:
        for _ in range(3):
            negatives["other_words"].append(place(speak(word, random_voice(rng, "eval")), 20.0, 0.3, rng))
    for _ in range(12):
        n = round(rng.uniform(0.1, 0.6) * RATE)
        burst = rng.standard_normal(n) * np.hanning(n)
        negatives["noise_bursts"].append(place(burst, 20.0, rng.uniform(0.2, 0.6), rng))
        negatives["music"].append(place(music(rng), 20.0, rng.uniform(0.1, 0.4), rng))
    negatives = {k: np.stack([to_int16(x) for x in v]) for k, v in negatives.items()}
    return train, evals, negatives


def run(frontend: str, augment: bool, seed: int, sets, steps: int, batch: int) -> dict:
    train, evals, negatives = sets
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 7])
    model = Probe(frontend, len(WORDS) + 1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    t0 = time.process_time()
    for _ in range(steps):
        picks = rng.integers(len(train), size=batch)
        clips = [train[i][0] for i in picks]
        audio = np.stack([augment_cue_audio(x, RATE, rng) for x in clips] if augment else clips)
        audio = to_int16(audio).reshape(batch, CLIP_TICKS, TICK)
        target = torch.from_numpy(np.stack([train[i][1] for i in picks]))
        logits = model(audio)
        loss = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=-1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    train_cpu_s = time.process_time() - t0
    out = {"frontend": frontend, "augment": augment, "seed": seed, "train_cpu_s": train_cpu_s,
           "final_loss": float(loss.detach())}
    with torch.no_grad():
        for name, (clips, truth) in evals.items():
            got = answers(model(clips.reshape(len(clips), CLIP_TICKS, TICK)))
            out[f"accuracy_{name}"] = float(np.mean(got == truth))
            out[f"no_answer_{name}"] = float(np.mean(got == 0))
        total, minutes = 0, 0.0
        for name, clips in negatives.items():
            fired = answers(model(clips.reshape(len(clips), CLIP_TICKS, TICK))) > 0
            out[f"false_command_{name}"] = float(np.mean(fired))
            total += int(fired.sum())
            minutes += len(clips) * CLIP_TICKS * TICK / RATE / 60
        out["false_command_rate"] = total / sum(len(v) for v in negatives.values())
        out["false_commands_per_min"] = total / minutes
    return out


def tick_ms() -> dict:
    """Per-tick cost (batch 1, float32, one thread) of each front end at the default (teaching) size."""
    torch.set_num_threads(1)
    res = {}
    for fe in ("mel_ticks", "utterance"):
        cfg = TokenizerConfig(audio_frontend=fe)
        tok = (UtteranceTokenizer if fe == "utterance" else AudioTokenizer)(cfg)
        pcm = np.random.default_rng(0).integers(-3000, 3000, (1, 1, TICK))
        x = torch.from_numpy(pcm.astype(np.float32) / 32768)
        with torch.inference_mode():
            state = tok.initial_state(1, torch.float32)
            res[fe] = time_calls(lambda tok=tok, state=state, x=x: tok.forward_state(x, state), 500)
    return res


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of a normal 95 % interval over seeds."""
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(1.96 * v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--frontends", nargs="+", default=list(FRONTENDS), choices=FRONTENDS)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--n-eval", type=int, default=10, help="eval utterances per word and SNR")
    ap.add_argument("--out", default="bench/results/2026-12-07_audio_probe.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    runs = []
    for seed in args.seeds:
        sets = make_sets(seed, args.n_eval)
        for fe in args.frontends:
            for augment in (False, True):
                r = run(fe, augment, seed, sets, args.steps, args.batch)
                runs.append(r)
                print(f"seed {seed} {fe:17s} aug={augment!s:5s} acc20 {r['accuracy_20dB']:.2f} "
                      f"acc10 {r['accuracy_10dB']:.2f} false {r['false_command_rate']:.2f} "
                      f"({r['train_cpu_s']:.0f} CPU s)", flush=True)
    metrics = ("accuracy_20dB", "accuracy_10dB", "false_command_rate", "false_commands_per_min",
               "false_command_other_words", "false_command_noise_bursts", "false_command_music")
    summary, rows = [], []
    for fe in args.frontends:
        for augment in (False, True):
            group = [r for r in runs if r["frontend"] == fe and r["augment"] == augment]
            s = {"frontend": fe, "augment": augment, "n_seeds": len(group)}
            for m in metrics:
                s[m], s[m + "_ci95"] = mean_ci([r[m] for r in group])
            summary.append(s)
            cells = [f"{s[m]:.2f} ± {s[m + '_ci95']:.2f}" for m in metrics[:4]]
            rows.append([fe, "yes" if augment else "no", *cells])
    timing = tick_ms()
    print(format_table(["front end", "aug", "acc 20 dB", "acc 10 dB", "false cmd rate", "false/min"], rows))
    print("per-tick cost, one thread: " + ", ".join(f"{k} {v['median_ms']:.3f} ms (p99 {v['p99_ms']:.3f})"
                                                   for k, v in timing.items()))
    data = {"bench": "audio_probe", "date": "2026-12-07", "args": vars(args), "words": WORDS,
            "other_words": OTHER_WORDS, "latch": LATCH, "machine": machine_info(), "tick_ms": timing,
            "summary": summary, "runs": runs}
    write_json(args.out, data)
    print(f"wrote {args.out}")
    return data


if __name__ == "__main__":
    main()
