"""Compiled (numba) per-tick loops of the memory scan: the same equations as `memory._scan_forward` and
`memory._scan_backward`, fused.

Why: the scan's loops are over T ticks, each a handful of small products on (B, Hm, Dm) matrices. As torch
ops that is ~9 calls forward and ~13 backward per tick, each one a pass over the (2, 2, B, Hm, Dm) state
plus ~10 µs of dispatch; at B = 2, T = 250 the loops were ~40 % of a Yan training step. Here one tick is
two passes over the rows of the state, and everything a row needs is computed while it is in registers:

    forward, pass 1 (row j):  h_j = W1_j . k, a_j = silu(h_j), err += a_j W2ᵀ_j
    forward, pass 2 (row j):  g_j = W2ᵀ_j . err, dh_j = g_j silu'(h_j), then the write of both layers'
                              row j (S' = eta S - theta outer, W' = keep W + S'), and the read
                              hq_j = W1'_j . q, y += silu(hq_j) W2ᵀ'_j, and the layers' squared norms
    forward, pass 3 (rare):   a layer over its norm bound is scaled back onto it and the read redone
    backward, pass A (row j): GS' += GW', the dots <GW', W>, <GS', S>, z_j, y += ..., and W2 gg
    backward, pass B (row j): ga_j, gh_j, then GW = keep GW' + the tick's rank-one terms, GS = eta GS'

Layouts are those of `memory.py` (layer 2 transposed, W2ᵀ (Hm, Dm), like W1), and the kernels fill the
same buffers the torch loops fill, so the code around them (the batched reads and gradients) is shared.
`memory.SCAN_KERNEL` picks these or the torch loops; tests check both against the reference.

Numba compiles both kernels once per dtype on first use (~5.5 s on a fresh machine) and caches the
machine code next to this file (`cache=True`, in `__pycache__/`), so later processes load it in ~0.4 s.
`warm_up()` does that ahead of any timed training step. The kernels release the GIL (`nogil`), so a
learner thread in the scan does not hold up a control thread in the same process.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = dict(cache=True, fastmath=True, boundscheck=False, nogil=True)


@njit(**_JIT)
def _sigmoid(x, one):
    return one / (one + np.exp(-x))


@njit(**_JIT)
def scan_forward(hist, rv, lv, h, g, hq, reads, q, v, alpha, eta, theta, every_slot, bounds_sq,
                 clamped):  # pragma: no cover
    """The writes and reads of T ticks, in place (shapes as in `memory._scan_forward`).

    hist (2 [W, S], 2 [layer 1, layer 2ᵀ], slots, B, Hm, Dm): with every_slot slot t is the state
    before tick t (T + 1 slots); without, two slots used in turn (the state before tick t is slot t % 2).
    rv (T, 2, B, 1, Dm) holds k in [:, 0] on entry; err is written to [:, 1]. Written: lv (T, 2, B, 1, Hm)
    = [dh, a]; h, g, hq (T, B, 1, Hm); reads (T, B, Dm). q, v (T, B, Dm); alpha, eta, theta (T, B).
    bounds_sq (2,): the squared norm bound of each layer (`memory.bound_norms`; finite: the dtype's max
    for none, fastmath assumes no inf); a written layer above its bound is scaled back onto it and the
    read redone (pass 3, rare); clamped (1,) int64 counts those writes.
    """
    t_len, bsz, dm, hm = rv.shape[0], rv.shape[2], rv.shape[4], lv.shape[4]
    err = np.empty(dm, dtype=rv.dtype)
    acc = np.empty(dm, dtype=rv.dtype)
    one = np.ones(1, dtype=rv.dtype)[0]  # constants of the arrays' dtype: float32 math stays float32
    zero, two = one - one, one + one
    for t in range(t_len):
        si = t if every_slot else t % 2
        so = t + 1 if every_slot else (t + 1) % 2
        for b in range(bsz):
            w1, w2, s1, s2 = hist[0, 0, si, b], hist[0, 1, si, b], hist[1, 0, si, b], hist[1, 1, si, b]
            w1n, w2n, s1n, s2n = hist[0, 0, so, b], hist[0, 1, so, b], hist[1, 0, so, b], hist[1, 1, so, b]
            k, qt, vt = rv[t, 0, b, 0], q[t, b], v[t, b]
            # pass 1: h = W1 k, a = silu(h), err = 2 (W2 a - v)
            for d in range(dm):
                acc[d] = zero
            for j in range(hm):
                s = zero
                for d in range(dm):
                    s += w1[j, d] * k[d]
                aj = s * _sigmoid(s, one)
                h[t, b, 0, j] = s
                lv[t, 1, b, 0, j] = aj
                for d in range(dm):
                    acc[d] += aj * w2[j, d]
            for d in range(dm):
                err[d] = two * (acc[d] - vt[d])
                rv[t, 1, b, 0, d] = err[d]
                acc[d] = zero
            # pass 2: g = W2ᵀ err, dh = g silu'(h); write row j of both layers; read y = W2' silu(W1' q)
            et, keep, th = eta[t, b], one - alpha[t, b], theta[t, b]
            n1 = n2 = zero  # squared norms of the written layers
            for j in range(hm):
                gj = zero
                for d in range(dm):
                    gj += w2[j, d] * err[d]
                hj = h[t, b, 0, j]
                sig = _sigmoid(hj, one)
                dhj = gj * (sig * (one + hj * (one - sig)))
                g[t, b, 0, j] = gj
                lv[t, 0, b, 0, j] = dhj
                c1, c2 = th * dhj, th * lv[t, 1, b, 0, j]
                hqj = zero
                for d in range(dm):
                    x1 = et * s1[j, d] - c1 * k[d]
                    s1n[j, d] = x1
                    y1 = keep * w1[j, d] + x1
                    w1n[j, d] = y1
                    hqj += y1 * qt[d]
                    n1 += y1 * y1
                    x2 = et * s2[j, d] - c2 * err[d]
                    s2n[j, d] = x2
                    y2 = keep * w2[j, d] + x2
                    w2n[j, d] = y2
                    n2 += y2 * y2
                hq[t, b, 0, j] = hqj
                aq = hqj * _sigmoid(hqj, one)
                for d in range(dm):
                    acc[d] += aq * w2n[j, d]
            if n1 > bounds_sq[0] or n2 > bounds_sq[1]:
                # pass 3 (rare): scale the layers back onto their bounds, read again
                f1 = np.sqrt(bounds_sq[0] / n1) if n1 > bounds_sq[0] else one
                f2 = np.sqrt(bounds_sq[1] / n2) if n2 > bounds_sq[1] else one
                for d in range(dm):
                    acc[d] = zero
                for j in range(hm):
                    hqj = f1 * hq[t, b, 0, j]
                    hq[t, b, 0, j] = hqj
                    aq = hqj * _sigmoid(hqj, one)
                    for d in range(dm):
                        w1n[j, d] *= f1
                        w2n[j, d] *= f2
                        acc[d] += aq * w2n[j, d]
                clamped[0] += 1
            for d in range(dm):
                reads[t, b, d] = acc[d]


@njit(**_JIT)
def scan_backward(hist, adj, lf, rf, lv, ds, c, alpha, eta, theta, z, y, dots):  # pragma: no cover
    """The reverse-time loop of `memory._scan_backward`, in place: the same buffers, the same equations.

    adj (2 [W, S], 2 [layer], B, Hm, Dm): the adjoint of the final state (plus the last read) on entry,
    of the initial state on return. lf (T, 2, B, 3, Hm) / rf (T, 2, B, 3, Dm): the rank-one factors
    [gh, ghq_{t-1}, 0] / [gg, a, aq_{t-1}] and [k, q_{t-1}, 0] / [err, gr, gy_{t-1}]; gh, gg and gr are
    written here. lv (T, 2, B, 1, Hm) = [dh, a]; ds = silu'(h), c = g silu''(h) (T, B, 1, Hm); gates
    (T, B). Written: z (T, 2 B, 1, Hm) = [GS1' k ; GS2ᵀ' err], y (T, 2 B, 1, Dm) = [GS1'ᵀ dh ; GS2ᵀ'ᵀ a],
    dots (T, 2 [W, S], 2 [layer], B).
    """
    t_len, bsz, hm, dm = lf.shape[0], lf.shape[2], lf.shape[4], rf.shape[4]
    y1 = np.empty(dm, dtype=lf.dtype)
    y2 = np.empty(dm, dtype=lf.dtype)
    acc = np.empty(dm, dtype=lf.dtype)
    gr = np.empty(dm, dtype=lf.dtype)
    one = np.ones(1, dtype=lf.dtype)[0]  # constants of the arrays' dtype: float32 math stays float32
    zero, two = one - one, one + one
    for t in range(t_len - 1, -1, -1):
        for b in range(bsz):
            w1, w2, s1, s2 = hist[0, 0, t, b], hist[0, 1, t, b], hist[1, 0, t, b], hist[1, 1, t, b]
            aw1, aw2, as1, as2 = adj[0, 0, b], adj[0, 1, b], adj[1, 0, b], adj[1, 1, b]
            k, err = rf[t, 0, b, 0], rf[t, 1, b, 0]
            dh, a = lv[t, 0, b, 0], lv[t, 1, b, 0]
            th = theta[t, b]
            # pass A: GS' += GW'; dots; z = [GS1' k ; GS2ᵀ' err]; y = [GS1'ᵀ dh ; GS2ᵀ'ᵀ a]; W2 gg
            for d in range(dm):
                y1[d] = zero
                y2[d] = zero
                acc[d] = zero
            dw1 = dw2 = dsum1 = dsum2 = zero
            for j in range(hm):
                z1 = zero
                z2 = zero
                dhj, aj = dh[j], a[j]
                for d in range(dm):
                    gs1 = as1[j, d] + aw1[j, d]
                    gs2 = as2[j, d] + aw2[j, d]
                    as1[j, d] = gs1
                    as2[j, d] = gs2
                    dw1 += aw1[j, d] * w1[j, d]
                    dw2 += aw2[j, d] * w2[j, d]
                    dsum1 += gs1 * s1[j, d]
                    dsum2 += gs2 * s2[j, d]
                    z1 += gs1 * k[d]
                    z2 += gs2 * err[d]
                    y1[d] += gs1 * dhj
                    y2[d] += gs2 * aj
                z[t, b, 0, j] = z1
                z[t, bsz + b, 0, j] = z2
                ggj = -th * z1 * ds[t, b, 0, j]  # gg = gdh silu'(h), gdh = -theta z1
                lf[t, 1, b, 0, j] = ggj
                for d in range(dm):
                    acc[d] += ggj * w2[j, d]
            dots[t, 0, 0, b], dots[t, 0, 1, b] = dw1, dw2
            dots[t, 1, 0, b], dots[t, 1, 1, b] = dsum1, dsum2
            for d in range(dm):
                y[t, b, 0, d] = y1[d]
                y[t, bsz + b, 0, d] = y2[d]
                gr[d] = two * (acc[d] - th * y2[d])  # gr = 2 gerr, gerr = -theta Y_2 + W2 gg
                rf[t, 1, b, 1, d] = gr[d]
            # pass B: ga = -theta z2 + W2ᵀ gr, gh = ga silu'(h) + gdh c;
            #         GW = keep GW' + the rank-one terms, GS = eta GS'
            keep, et = one - alpha[t, b], eta[t, b]
            l_prev1, l_prev2 = lf[t, 0, b, 1], lf[t, 1, b, 2]  # ghq_{t-1}, aq_{t-1} (zero at t = 0)
            r_prev1, r_prev2 = rf[t, 0, b, 1], rf[t, 1, b, 2]  # q_{t-1}, gy_{t-1}
            for j in range(hm):
                ga = zero
                for d in range(dm):
                    ga += gr[d] * w2[j, d]
                ga -= th * z[t, bsz + b, 0, j]
                ghj = ga * ds[t, b, 0, j] - th * z[t, b, 0, j] * c[t, b, 0, j]
                lf[t, 0, b, 0, j] = ghj
                ggj, aj, lp1, lp2 = lf[t, 1, b, 0, j], a[j], l_prev1[j], l_prev2[j]
                for d in range(dm):
                    aw1[j, d] = keep * aw1[j, d] + ghj * k[d] + lp1 * r_prev1[d]
                    aw2[j, d] = keep * aw2[j, d] + ggj * err[d] + aj * gr[d] + lp2 * r_prev2[d]
                    as1[j, d] *= et
                    as2[j, d] *= et


_WARM: set[str] = set()


def warm_up(dtypes: tuple[type, ...] = (np.float32,)) -> None:
    """Compile (or load from the cache) both kernels for these dtypes, on tiny inputs, once per process.

    Called when a `NativeMemory` is built, so that the compile (~5.5 s per dtype on a fresh machine;
    ~0.4 s from the cache) is not counted in a training step's time. Other dtypes compile on first use.
    """
    for dtype in dtypes:
        if np.dtype(dtype).name in _WARM:
            continue
        t, b, dm, hm = 2, 1, 2, 3
        z = np.zeros
        scan_forward(z((2, 2, t + 1, b, hm, dm), dtype), z((t, 2, b, 1, dm), dtype),
                     z((t, 2, b, 1, hm), dtype), z((t, b, 1, hm), dtype), z((t, b, 1, hm), dtype),
                     z((t, b, 1, hm), dtype),
                     z((t, b, dm), dtype), z((t, b, dm), dtype), z((t, b, dm), dtype), z((t, b), dtype),
                     z((t, b), dtype), z((t, b), dtype), True, np.full(2, np.finfo(dtype).max, dtype),
                     z(1, np.int64))
        scan_backward(z((2, 2, t + 1, b, hm, dm), dtype), z((2, 2, b, hm, dm), dtype),
                      z((t, 2, b, 3, hm), dtype), z((t, 2, b, 3, dm), dtype), z((t, 2, b, 1, hm), dtype),
                      z((t, b, 1, hm), dtype), z((t, b, 1, hm), dtype), z((t, b), dtype), z((t, b), dtype),
                      z((t, b), dtype), z((t, 2 * b, 1, hm), dtype), z((t, 2 * b, 1, dm), dtype),
                      z((t, 2, 2, b), dtype))
        _WARM.add(np.dtype(dtype).name)
