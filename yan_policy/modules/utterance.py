"""The utterance front end: a rolling ~1 s log-mel window -> one utterance embedding token per tick.

Dimension letters: B batch, T ticks, Na mel frames per tick (S / hop), F new frames (T * Na), M mel bands,
E = M + 2 frame features (log-mel, energy, onset), C conv channels, P pooling window (frames), W token width.

Why: the per-tick tokenizer (`AudioTokenizer`) hands the backbone 32 ms slices of a spoken word, which
the backbone has to glue into a word; with spoken cues that picked the wrong skill (issue 29). Here the
whole last second reaches the policy at every tick:

    frame j   x_j = [log-mel (M), energy e_j = mean log-mel, onset o_j = mean relu(mel_j - mel_{j-1})]
    conv      h_j = causal dilated conv stack over x_{j-R} .. x_j (valid, no padding), GELU
    pool      over the last P frames of g_j = [h_j, e_j, o_j]: max, mean, and min of e (the floor)
    token     Linear(pooled) -> (W,), one per tick (at the tick's last frame)

The conv is causal and shift-equivariant, so the parallel form runs it once over the whole (B, T)
window and pools each tick's last P frames with `max_pool1d` / `avg_pool1d`; the recurrent form keeps
constant-size ring buffers of *frames*, not samples: each conv layer's last (k - 1) * dilation input frames
("audio.conv{i}", 2 + 4 + 8 + 16 frames in all) and the last P - 1 pooled-feature frames ("audio.feats"),
so a tick costs Na new frames through each layer plus one pooling over P frames (~0.2 ms on one core).
The raw-sample ring buffer for the FFT window ("audio_context", n_fft samples) is `AudioTokenizer`'s.
Both forms give the same tokens, states and gradients (tests/test_audio_frontend.py, float64).

Max pooling makes the embedding independent of where in the window the word falls (time shift); the
energy range (max e - min e) and the onset maximum say whether anything happened at all, so silence and
steady noise give a flat window, hence a stable embedding of their own. Before any audio the buffers
hold digital silence (a zero signal), as the old ring buffer did.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from yan_policy.modules.configuration_tokenizers import TokenizerConfig
from yan_policy.modules.tokenizers import _LOG_EPS, AudioTokenizer

CONV_KERNEL = 3
CONV_DILATIONS = (1, 2, 4, 8)  # receptive field 1 + 2 * (1 + 2 + 4 + 8) = 31 frames = 310 ms at a 10 ms hop


class UtteranceTokenizer(AudioTokenizer):
    """int16 PCM ticks -> one utterance embedding token per tick over a rolling log-mel window.

    `forward_state(audio (B, T, S) float in [-1, 1), state)` -> tokens (B, T, 1, W), new state; the state
    keys are `state_keys` (see the module docstring). Shares the log-mel computation (`advance`,
    `log_mel`) and the raw-sample ring buffer with `AudioTokenizer`.
    """

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__(cfg)
        del self.proj  # the per-frame projection of the tick tokenizer is not used
        self.n_tokens = 1
        self.pool_frames = cfg.utterance_frames  # P
        c, e = cfg.utterance_channels, cfg.n_mels + 2
        self.convs = nn.ModuleList(
            nn.Conv1d(e if i == 0 else c, c, CONV_KERNEL, dilation=d) for i, d in enumerate(CONV_DILATIONS))
        self.proj = nn.Linear(2 * (c + 2) + 1, cfg.token_dim)
        # the frame features of a zero signal: log-mel at the floor, energy the same, no onset
        silent = 1.5 + 0.25 * torch.log(torch.tensor(_LOG_EPS, dtype=torch.float64)).item()
        self.register_buffer("silent_frame", torch.tensor([silent] * (cfg.n_mels + 1) + [0.0]),
                             persistent=False)
        convs = tuple(f"audio.conv{i}" for i in range(len(self.convs)))
        self.state_keys = ("audio_context", *convs, "audio.feats")

    # -- pieces ---------------------------------------------------------------------------------

    def frame_features(self, mel: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """log-mel (B, F, M) of new frames, the previous frame's log-mel (B, 1, M) -> x (B, F, E)."""
        prev = torch.cat([last, mel[:, :-1]], dim=1)  # (B, F, M)
        energy = mel.mean(-1, keepdim=True)  # (B, F, 1)
        onset = F.relu(mel - prev).mean(-1, keepdim=True)  # (B, F, 1)
        return torch.cat([mel, energy, onset], dim=-1)  # (B, F, E)

    def layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Conv layer i (causal, dilated, valid) as one matmul over its taps, then GELU: input frames
        (B, (k - 1) d + F, C_in) -> (B, F, C). The same cost per frame for one tick or a whole window
        (`F.conv1d` on a two-frame input cost ~0.1 ms a layer)."""
        conv = self.convs[i]
        d, k = conv.dilation[0], CONV_KERNEL
        n = x.shape[1] - (k - 1) * d
        taps = torch.cat([x[:, j * d: j * d + n] for j in range(k)], dim=-1)  # (B, F, k C_in)
        weight = conv.weight.permute(2, 1, 0).flatten(0, 1)  # (k C_in, C), tap-major as `taps`
        return F.gelu(torch.addmm(conv.bias, taps.flatten(0, 1), weight).unflatten(0, (x.shape[0], n)))

    def pool(self, g: torch.Tensor, n_ticks: int) -> torch.Tensor:
        """Pooled features (B, P - 1 + F, C + 2) -> per-tick window statistics (B, T, 2 (C + 2) + 1):
        each tick's window is the P frames that end at its last frame."""
        na = self.frames_per_tick
        seq = g[:, na - 1:].transpose(1, 2)  # (B, C + 2, P + F - Na): windows start every Na frames
        top = F.max_pool1d(seq, self.pool_frames, na)  # (B, C + 2, T)
        mean = F.avg_pool1d(seq, self.pool_frames, na)  # (B, C + 2, T)
        floor = -F.max_pool1d(-seq[:, -2:-1], self.pool_frames, na)  # (B, 1, T) the lowest frame energy
        return torch.cat([top, mean, floor], dim=1).transpose(1, 2)[:, :n_ticks]  # (B, T, 2 (C + 2) + 1)

    # -- state ----------------------------------------------------------------------------------

    def initial_state(self, batch_size: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """Digital silence everywhere: the raw samples, every conv layer's input history and the pooled
        history (the stack's response to a constant silent input)."""
        h = self.silent_frame.to(dtype)[None, None]  # (1, 1, E)
        state = {"audio_context": super().initial_context(batch_size, dtype)}
        for i, conv in enumerate(self.convs):
            span = (CONV_KERNEL - 1) * conv.dilation[0]
            state[f"audio.conv{i}"] = h.expand(batch_size, span, -1).contiguous()  # (B, span, C_in)
            h = self.layer(i, h.expand(1, span + 1, -1))  # (1, 1, C)
        g = torch.cat([h, self.silent_frame.to(dtype)[-2:][None, None]], dim=-1)  # (1, 1, C + 2)
        state["audio.feats"] = g.expand(batch_size, self.pool_frames - 1, -1).contiguous()  # (B, P-1, C+2)
        return state

    def forward_state(self, audio: torch.Tensor, state: dict[str, torch.Tensor]
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """audio (B, T, S) float in [-1, 1) and the state -> tokens (B, T, 1, W) and the new state."""
        t = audio.shape[1]
        stream, context = self.advance(audio, state["audio_context"])  # (B, F_fft + T S)
        mel = self.log_mel(stream, t).flatten(1, 2)  # (B, F, M)
        new = {"audio_context": context}
        h = self.frame_features(mel, state["audio.conv0"][:, -1:, :mel.shape[-1]])  # (B, F, E)
        frame = h[..., -2:]  # (B, F, 2) energy, onset
        for i in range(len(self.convs)):
            x = torch.cat([state[f"audio.conv{i}"], h], dim=1)  # (B, span + F, C_in)
            new[f"audio.conv{i}"] = x[:, h.shape[1]:]  # the last span frames
            h = self.layer(i, x)  # (B, F, C)
        g = torch.cat([state["audio.feats"], torch.cat([h, frame], dim=-1)], dim=1)  # (B, P - 1 + F, C + 2)
        new["audio.feats"] = g[:, -(self.pool_frames - 1):]
        tokens = F.linear(self.pool(g, t), self.proj.weight, self.proj.bias)  # (B, T, W)
        return tokens[:, :, None], new

    def skip_state(self, batch_size: int, n_ticks: int, state: dict[str, torch.Tensor]
                   ) -> dict[str, torch.Tensor]:
        """The state after n_ticks of a gap, which is silence in the ring buffers."""
        dtype = state["audio.feats"].dtype
        return self.forward_state(torch.zeros(batch_size, n_ticks, self.samples, dtype=dtype), state)[1]
