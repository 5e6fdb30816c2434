"""Train-time augmentation of the cue audio: speed, pitch, gain, reverberation, time shift and noise.

A skill is taught from three demonstrations, so its spoken cue is heard three times; the owner will say it
faster, higher, louder, from another room, over the TV. Each time an episode enters a training batch, its
cue is said anew (numpy only, seeded by the learner's generator):

1. the cue segment is found by energy (`find_cue_segment`: 10 ms frames more than `CUE_THRESHOLD_DB`
   above the episode's noise floor, the 10th percentile of frame RMS, from the first to the last);
2. the segment is cut out (its samples replaced by the episode's own background noise) and said again:
   pitch shifted by resampling, then brought to the new speed by overlap-add time stretching (`stretch`),
   so speed and pitch vary independently; convolved with a synthetic room (exponentially decaying noise,
   RT60 drawn in `rt60_s`) with probability `reverb_prob`; scaled by a gain in ±`gain_db`;
3. put back with its *end* shifted by up to ±`time_shift_s` (the end is where a listener knows the word,
   and what the teacher reacted to, so the labels stay true);
4. noise is added to the whole episode, white or pink, at up to `noise_ratio` times the episode's own
   noise floor (20 dB SNR then falls to about 10 dB at 3).

Without a cue segment (no cue, or silence) only steps 4 and the gain of the whole episode apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_S = 0.01  # s, frames of the segment detector
CUE_THRESHOLD_DB = 10.0  # a frame this far above the noise floor is part of the cue
FLOOR_PERCENTILE = 10.0  # the noise floor: this percentile of the episode's frame RMS
SEGMENT_PAD_S = 0.03  # s kept on either side of the detected cue
OLA_WINDOW_S = 0.025  # s, window of the overlap-add time stretch (a few pitch periods of speech)
PINK_TAPS = 64  # FIR length of the pink colouring (as sim.microphone)


@dataclass(frozen=True)
class CueAudioAugment:
    """Ranges of the cue-audio augmentation (see the module docstring); every draw is uniform.

    Args:
        speed: range of the speaking-rate factor (>1 is faster, the word shorter).
        pitch_semitones: the pitch shifts by up to this many semitones either way.
        gain_db: the cue's level changes by up to this many dB either way.
        reverb_prob: probability of a synthetic room; rt60_s its reverberation time range (s); the
            reverberant part is mixed in at a wet/dry ratio drawn in wet.
        time_shift_s: the cue's end moves by up to this long either way (s).
        noise_ratio: added noise RMS, up to this many times the episode's own noise floor.
    """

    speed: tuple[float, float] = (0.8, 1.25)
    pitch_semitones: float = 3.0
    gain_db: float = 6.0
    reverb_prob: float = 0.5
    rt60_s: tuple[float, float] = (0.1, 0.6)
    wet: tuple[float, float] = (0.1, 0.6)
    time_shift_s: float = 0.05
    noise_ratio: float = 3.0

    def __post_init__(self):
        if not 0.0 < self.speed[0] <= self.speed[1]:
            raise ValueError(f"speed must be an increasing range of positive factors, got {self.speed}")
        if not 0.0 < self.rt60_s[0] <= self.rt60_s[1] or not 0.0 <= self.wet[0] <= self.wet[1] <= 1.0:
            raise ValueError(f"need 0 < rt60_s[0] <= rt60_s[1] and 0 <= wet[0] <= wet[1] <= 1, got "
                             f"{self.rt60_s}, {self.wet}")
        for name in ("pitch_semitones", "gain_db", "time_shift_s", "noise_ratio"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.reverb_prob <= 1.0:
            raise ValueError(f"reverb_prob must be in [0, 1], got {self.reverb_prob}")


def _frame_rms(x: np.ndarray, frame: int) -> np.ndarray:
    n = len(x) // frame
    return np.sqrt(np.mean(np.square(x[: n * frame].reshape(n, frame)), axis=1) + 1e-20)  # (n,)


def noise_floor(x: np.ndarray, rate: int) -> float:
    """RMS of the quiet part of x (full scale): the `FLOOR_PERCENTILE` of its 10 ms frames' RMS."""
    rms = _frame_rms(x, round(FRAME_S * rate))
    return float(np.percentile(rms, FLOOR_PERCENTILE)) if rms.size else 0.0


def find_cue_segment(x: np.ndarray, rate: int) -> tuple[int, int] | None:
    """[start, end) samples of the loud part of x (float, full scale), or None if nothing stands out."""
    frame = round(FRAME_S * rate)
    rms = _frame_rms(x, frame)
    if rms.size < 3:
        return None
    loud = np.flatnonzero(rms > np.percentile(rms, FLOOR_PERCENTILE) * 10.0 ** (CUE_THRESHOLD_DB / 20.0))
    if loud.size == 0:
        return None
    pad = round(SEGMENT_PAD_S * rate)
    return max(0, loud[0] * frame - pad), min(len(x), (loud[-1] + 1) * frame + pad)


def resample(x: np.ndarray, factor: float) -> np.ndarray:
    """x played `factor` times faster (linear interpolation): length len(x) / factor, pitch x factor."""
    n = max(2, round(len(x) / factor))
    return np.interp(np.arange(n) * factor, np.arange(len(x)), x)


def stretch(x: np.ndarray, rate_factor: float, rate: int) -> np.ndarray:
    """x said `rate_factor` times faster at the same pitch (WSOLA): Hann windows overlap-added every hop
    samples at the output, each read from x near hop * rate_factor times its index, at the offset (within
    half a hop) that best continues the previous window's waveform, so periods line up and the pitch
    stays. Length round(len(x) / rate_factor)."""
    win = round(OLA_WINDOW_S * rate)
    hop, tol = win // 2, win // 4
    n_out = max(1, int(np.ceil(len(x) / rate_factor / hop)))
    padded = np.concatenate([np.zeros(tol), x, np.zeros(win + hop + 2 * tol)])  # x[i] = padded[i + tol]
    w = np.hanning(win + 2)[1:-1]  # (win,) no zero ends
    out, norm = np.zeros(n_out * hop + win), np.zeros(n_out * hop + win)
    pos = 0  # where in x the previous window was read
    for k in range(n_out):
        nominal = min(int(k * hop * rate_factor), len(x))
        if k:
            target = padded[pos + hop + tol: pos + hop + tol + win]  # the natural continuation
            region = padded[nominal: nominal + 2 * tol + win]  # x[nominal - tol: nominal + tol + win]
            pos = nominal - tol + int(np.argmax(np.correlate(region, target, "valid")))
        out[k * hop: k * hop + win] += padded[pos + tol: pos + tol + win] * w
        norm[k * hop: k * hop + win] += w
    y = out / np.maximum(norm, 1e-3)
    return y[: max(1, round(len(x) / rate_factor))]


def room(x: np.ndarray, rt60_s: float, wet: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """x in a synthetic room: the dry signal plus `wet` of it convolved with exponentially decaying noise
    (-60 dB after rt60_s), the tail kept. Same RMS as the dry input over len(x)."""
    n_ir = max(2, round(rt60_s * rate))
    ir = rng.standard_normal(n_ir) * np.exp(-6.9 * np.arange(n_ir) / n_ir)  # -60 dB at the end
    ir /= np.linalg.norm(ir)
    n = len(x) + n_ir - 1
    size = 1 << (n - 1).bit_length()
    tail = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)[:n]
    y = np.concatenate([x, np.zeros(n_ir - 1)]) * (1.0 - wet) + tail * wet
    scale = np.sqrt(np.mean(np.square(x)) / max(np.mean(np.square(y[: len(x)])), 1e-20))
    return y * scale


def coloured_noise(n: int, rng: np.random.Generator, pink: bool) -> np.ndarray:
    """Unit-RMS white or (approximately) pink Gaussian noise, (n,)."""
    white = rng.standard_normal(n + PINK_TAPS - 1)
    if not pink:
        return white[:n]
    taps = 1.0 / np.sqrt(np.arange(1, PINK_TAPS + 1))
    return np.convolve(white, taps / np.linalg.norm(taps), mode="valid")


def augment_cue_audio(x: np.ndarray, rate: int, rng: np.random.Generator,
                      cfg: CueAudioAugment = CueAudioAugment()) -> np.ndarray:
    """Float audio x (n,) in full-scale units -> the same length with its cue said anew (module docstring).
    Draws from rng in a fixed order, so a seed gives the same result."""
    speed = rng.uniform(*cfg.speed)
    pitch = 2.0 ** (rng.uniform(-cfg.pitch_semitones, cfg.pitch_semitones) / 12.0)
    gain = 10.0 ** (rng.uniform(-cfg.gain_db, cfg.gain_db) / 20.0)
    reverb = rng.random() < cfg.reverb_prob
    rt60, wet = rng.uniform(*cfg.rt60_s), rng.uniform(*cfg.wet)
    shift = round(rng.uniform(-cfg.time_shift_s, cfg.time_shift_s) * rate)
    noise_rms = rng.uniform(0.0, cfg.noise_ratio) * noise_floor(x, rate)
    pink = rng.random() < 0.5
    segment = find_cue_segment(x, rate)
    if segment is None:
        out = x * gain
    else:
        a, b = segment
        out = x.copy()
        background = np.concatenate([x[:a], x[b:]])  # the episode's noise, to fill the cut
        if background.size:
            out[a:b] = np.resize(background, b - a)
        else:
            out[a:b] = 0.0
        said = stretch(resample(x[a:b], pitch), speed / pitch, rate)  # new pitch, then new speed
        start = max(0, min(len(x), b + shift) - len(said))  # the dry word ends at b + shift
        if reverb:
            said = room(said, rt60, wet, rate, rng)  # its tail rings on after that
        piece = said[: len(x) - start]
        out[start:start + len(piece)] += gain * piece
    if noise_rms > 0:
        out = out + noise_rms * coloured_noise(len(x), rng, pink)
    return out


def augment_batch_audio(audio: np.ndarray, lengths: list[int], rate: int, rng: np.random.Generator,
                        cfg: CueAudioAugment = CueAudioAugment()) -> None:
    """In place: each row of a training batch's int16 audio (B, T, S) augmented over its first lengths[i]
    ticks (`augment_cue_audio`; rows with no ticks are skipped), saturated to int16."""
    for i, n in enumerate(lengths):
        if n <= 0:
            continue
        x = audio[i, :n].reshape(-1).astype(np.float64) / 32768.0
        y = augment_cue_audio(x, rate, rng, cfg)
        audio[i, :n] = np.clip(np.rint(y * 32768.0), -32768, 32767).astype(np.int16).reshape(n, -1)


def audio_lengths(batch: dict[str, np.ndarray]) -> list[int]:
    """Per row of a collated batch, how many leading ticks hold audio (`audio_present`; all without it)."""
    b, t = batch["audio"].shape[:2]
    present = batch.get("audio_present")
    if present is None:
        return [t] * b
    return [t if row.all() else int(np.argmin(row)) for row in present]
