"""The reductions behind the probe's statistics (torch; child only).

Each returns 0-d (or short 1-d) tensors that `Deferred` turns into Python numbers all at once,
after the backward pass (on CPU, where nothing waits on a device, several return the number). On CPU several of torch's own kernels for these reductions are
scalar loops that run at a fraction of memory speed (`torch.std`, comparisons such as
`t == 0`, `count_nonzero`); the CPU paths here compute the same quantities, exactly or to
float32 rounding, from the vectorized elementwise and sum kernels. A CPU tensor has no
queue to wait for, so reading a 0-d result there (to take the plain kernel in a corner
case) costs microseconds; on other devices the plain kernels are used and nothing is read.
"""

from __future__ import annotations

import math

import torch

# float32 sums of values in {0, 1} are exact while the count stays below 2^24
_EXACT_COUNT = 1 << 24
# a float32 sum of squared deviations inside this range has neither overflowed nor
# lost its terms to underflow (squares below ~1e-38 flush towards zero)
_SQ_LOW, _SQ_HIGH = 1e-30, 1e37


def dense(t) -> bool:
    """Non-overlapping and dense: the elements fill `numel` consecutive storage slots from
    `data_ptr()` on, in some order of the dimensions (a contiguous tensor, its permutes and
    transposes)."""
    if t.is_contiguous():
        return True
    want = 1
    for stride, size in sorted((st, sz) for st, sz in zip(t.stride(), t.shape) if sz != 1):
        if stride != want:
            return False
        want *= size
    return True


class Scratch:
    """One reusable buffer per dtype for the statistics' elementwise temporaries (t², sign(t)).
    A fresh activation-sized tensor per reduction costs more than the reduction: the
    allocator hands the freed memory back to the system and every page faults in again on
    the next one (`(t * t).sum()` on a 4 MB tensor: 5× `torch.mul(t, t, out=buf).sum()`).
    The buffer takes the layout of the tensor it stands in for (an elementwise op into an
    output with other strides is slow); it lives as long as its owner (one measurement)."""

    def __init__(self):
        self.bufs: dict = {}

    def like(self, t):
        """An uninitialized tensor of t's shape, dtype and strides."""
        if t.device.type != "cpu" or not dense(t):
            return torch.empty_like(t)
        n = t.numel()
        buf = self.bufs.get(t.dtype)
        if buf is None or buf.numel() < n:
            buf = self.bufs[t.dtype] = torch.empty(n, dtype=t.dtype)
        return buf.as_strided(t.shape, t.stride())


class Deferred:
    """0-d tensors (and short 1-d ones) resolved to floats all at once (one device sync per
    device and dtype); numbers already on the host are kept as they are."""

    def __init__(self):
        self.items: list = []  # (first index, tensor)
        self.n = 0

    def add(self, t) -> int:
        """One 0-d tensor (or a number already known); returns its index."""
        k = self.n
        self.items.append((k, t))
        self.n += 1
        return k

    def add_vec(self, t) -> list[int]:
        """A 1-d tensor of a few values; returns their indices."""
        k = self.n
        self.items.append((k, t))
        self.n += t.numel()
        return list(range(k, k + t.numel()))

    def resolve(self) -> list[float]:
        """One concatenation per (device, dtype), then one copy to the host each."""
        groups: dict = {}
        out: list = [None] * self.n
        for k, t in self.items:
            if isinstance(t, torch.Tensor):
                groups.setdefault((t.device, t.dtype), []).append((k, t))
            else:
                out[k] = float(t)
        with torch.no_grad():
            for items in groups.values():
                scalars = [t for _, t in items if t.dim() == 0]
                parts = [torch.stack(scalars)] if scalars else []
                parts += [t.reshape(-1) for _, t in items if t.dim() != 0]
                vals = (parts[0] if len(parts) == 1 else torch.cat(parts)).cpu().tolist()
                pos = 0
                for k, t in items:  # scalars first, in order, then the vectors
                    if t.dim() == 0:
                        out[k] = float(vals[pos])
                        pos += 1
                for k, t in items:
                    if t.dim() != 0:
                        for j in range(t.numel()):
                            out[k + j] = float(vals[pos + j])
                        pos += t.numel()
        return out


def count_zeros(t, total=None, scratch: Scratch | None = None):
    """Exact number of zero elements: a float on CPU, else a 0-d tensor. On CPU `t == 0` and
    `count_nonzero` run at a fraction of memory speed, while `sign(t)` (±1 for every nonzero,
    0 for ±0) is vectorized and its dot product with itself counts the nonzeros exactly (the
    products are 0 or 1 and every partial sum an integer below 2^24; a float64 sum above).
    `sign(NaN)` is 0, so that path needs to know the tensor has no NaN: `total` is its sum or
    mean where the caller has one (NaN when a NaN is in it); a tensor with NaN is counted the
    plain way."""
    n = t.numel()
    if t.device.type != "cpu" or not t.is_floating_point():
        return n - torch.count_nonzero(t)
    if total is None:
        total = t.sum()
    if math.isnan(float(total)):
        return float(n - torch.count_nonzero(t))
    s = torch.sign(t, out=(scratch or Scratch()).like(t))
    if n >= _EXACT_COUNT:
        nz = s.abs_().sum(dtype=torch.float64)
    elif s.is_contiguous():
        nz = torch.dot(s.view(-1), s.view(-1))
    else:
        nz = s.abs_().sum()
    return float(n - int(nz))


def std_mean(t, scratch: Scratch | None = None, _depth: int = 0):
    """(std with correction 0, mean): floats on CPU, else 0-d tensors. On CPU `torch.std` is a
    scalar loop (and `std_mean`, Welford, ~5× slower still), so the moments come from two
    vectorized cascade sums, Σx and Σx², which float32 rounding leaves accurate to ~1e-7 of
    E[x²]; where the mean is large against the std (mean² > variance, where E[x²] − mean²
    would lose digits) the sum of squared deviations from the mean is taken instead, as
    `torch.std` does. Where the float32 squares could have overflowed or underflowed, the
    tensor is scaled by a power of two (exact) first; a constant tensor (Fixup's zero branch
    ends) has std 0; NaN or Inf gets the plain kernel."""
    n = t.numel()
    if t.device.type != "cpu" or n == 0:
        return torch.std(t, correction=0), t.mean()
    mean = float(t.sum()) / n
    if not math.isfinite(mean):
        return float(torch.std(t, correction=0)), mean
    buf = torch.mul(t, t, out=(scratch or Scratch()).like(t))
    sq = float(buf.sum())
    if not _SQ_LOW < sq < _SQ_HIGH:
        lo, hi = (float(v) for v in torch.aminmax(t))
        if lo == hi:
            return 0.0, lo
        big = max(abs(lo), abs(hi))
        if _depth or not math.isfinite(big):
            return float(torch.std(t, correction=0)), mean
        e = -math.frexp(big)[1]  # times 2^e: the largest |x| in [0.5, 1); in two steps, as
        half = e // 2             # 2^e itself may not be a float32 (subnormal inputs)
        s, m = std_mean(t * 2.0 ** half * 2.0 ** (e - half), scratch, 1)
        return math.ldexp(s, -e), math.ldexp(m, -e)
    var = sq / n - mean * mean
    if mean * mean > var:
        torch.sub(t, mean, out=buf)  # deviations from the float32-rounded mean, and its error
        off = float(buf.sum()) / n
        var = float(buf.mul_(buf).sum()) / n - off * off
    return math.sqrt(max(var, 0.0)), mean


def spread(td):
    """How much the first (up to) 4 samples of a batch differ, as a std: ≈ the per-element
    std when the output depends on the input, 0 when every sample gives the same output.
    (Elementwise on a contiguous copy of 4 samples: a `std(dim=0)` over the strided batch
    axis costs more than the layer.)"""
    k = min(4, td.shape[0])
    head = td[:k].reshape(k, -1)
    dev = head - head.mean(0)
    ss = dev.mul_(dev).sum()
    if td.device.type == "cpu":
        return math.sqrt(float(ss) / (head.shape[1] * (k - 1)))
    return (ss / (head.shape[1] * (k - 1))).sqrt_()


QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_QSAMPLE = 2048
_QIDX: dict = {}  # (sample size, device) -> the nearest-rank positions of QUANTILES


def _qidx(n: int, device):
    key = (n, device)
    idx = _QIDX.get(key)
    if idx is None:
        idx = _QIDX[key] = torch.tensor([min(n - 1, round(q * (n - 1))) for q in QUANTILES],
                                        device=device)
    return idx


def quantiles(td):
    """Quantiles of a layer's output magnitudes |x|, from an evenly strided sample of at most
    2048 values (nearest rank) as one 1-d tensor; how many of the sample are exactly zero (a
    number on CPU); the sample size."""
    flat = td.reshape(-1)
    step = max(1, flat.numel() // _QSAMPLE)
    sample = flat[:step * _QSAMPLE:step].abs().sort().values
    n = sample.numel()
    if sample.device.type == "cpu":
        zeros = float(n - int(torch.count_nonzero(sample)))
    else:
        zeros = (sample == 0).sum()
    return sample[_qidx(n, sample.device)], zeros, n


def rows_identical(w2):
    """Whether every row of a 2-D weight is the same (every column constant across rows) and
    the min and max of its first row (with identical rows: constant overall), as 0-d tensors;
    or (False, None, None) without reading the whole weight: on CPU, two first rows that
    differ somewhere (nearly every trained or random weight) settle it."""
    if w2.device.type == "cpu" and w2.shape[0] > 1 and bool((w2[0] != w2[1]).any()):
        return False, None, None
    mn, mx = torch.aminmax(w2[0])
    return (w2.amax(0) == w2.amin(0)).all(), mn, mx


def fused_sq_norms(todo: list, defer: Deferred) -> None:
    """‖t‖² for many tensors: one `_foreach_norm` per (device, dtype) instead of a reduction
    kernel per parameter (on a model with hundreds of small parameters, that is the cost).
    `todo`: (row dict, key, tensor); the row gets the deferred index under `key`."""
    groups: dict = {}
    for item in todo:
        t = item[2]
        groups.setdefault((t.device, t.dtype), []).append(item)
    for items in groups.values():
        norms = torch._foreach_norm([t for _, _, t in items])
        sq = torch.stack(norms).double().pow(2)
        for (st, key, _t), k in zip(items, defer.add_vec(sq)):
            st[key] = k
