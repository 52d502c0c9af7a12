"""The probe's reductions (initlint/probe/stats.py) against float64 references, on the cases
where the fast CPU paths would go wrong if they were not guarded: a dominant mean, values whose
squares overflow or underflow float32, constants, NaN and Inf, permuted layouts."""

import math

import pytest

torch = pytest.importorskip("torch")

from initlint.probe import stats as S  # noqa: E402
from initlint.probe.measure import _identity, measure  # noqa: E402
from initlint.probe.stats import dense as _dense  # noqa: E402


def _ref(t):
    d = t.double()
    return float(d.std(correction=0)), float(d.mean()), int((t == 0).sum())


def _cases():
    g = torch.Generator().manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=g)

    return {
        "normal": randn(64, 256),
        "relu": torch.relu(randn(16, 8, 32, 32)),
        "dominant mean": randn(10000) * 1e-3 + 100.0,
        "near constant": randn(4096) * 1e-7 + 1.0,
        "tiny": randn(1000) * 1e-25,
        "tiny with offset": randn(1000) * 1e-25 + 1e-24,
        "huge": randn(1000) * 1e25,
        "huge mean": randn(1000) * 1e15 + 1e20,
        "zeros": torch.zeros(3, 1000),
        "constant": torch.full((1000,), 3.5),
        "tiny constant": torch.full((100,), 1e-30),
        "half zeros, half tiny": torch.cat([torch.zeros(500), randn(500) * 1e-30]),
        "subnormal": torch.tensor([0.0, 1e-45, 2e-45, 0.0, -0.0]),
        "float64": randn(1000).double(),
        "one element": torch.tensor([2.0]),
        "permuted": randn(8, 16, 6, 6).permute(0, 2, 3, 1),
        "strided": randn(64, 64)[:, ::3],
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_std_mean_and_zeros_match_float64(name):
    t = _cases()[name]
    std, mean, zeros = _ref(t)
    got_std, got_mean = (float(v) for v in S.std_mean(t))
    assert got_std == pytest.approx(std, rel=1e-6, abs=0), name
    assert got_mean == pytest.approx(mean, rel=1e-6, abs=1e-12 * std), name
    assert float(S.count_zeros(t, got_mean)) == zeros
    assert float(S.count_zeros(t)) == zeros


def test_nonfinite_inputs():
    for t in (torch.tensor([1.0, float("nan"), 0.0]), torch.tensor([1.0, float("inf"), 0.0]),
              torch.tensor([float("inf"), -float("inf")])):
        std, mean = (float(v) for v in S.std_mean(t))
        ref = float(torch.std(t.double(), correction=0))
        assert math.isnan(std) == math.isnan(ref)
        assert math.isnan(mean) == math.isnan(float(t.double().mean()))
        # sign(NaN) is 0: the count must not take NaN for a zero
        assert float(S.count_zeros(t, mean)) == int((t == 0).sum())


def test_large_counts_are_exact():
    t = torch.zeros(S._EXACT_COUNT + 7)
    t[::3] = 1.5
    assert float(S.count_zeros(t)) == int((t == 0).sum())


def test_spread_and_quantiles():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 40, generator=g)
    head = x[:4].double()
    want = float(((head - head.mean(0)) ** 2).sum() / (40 * 3)) ** 0.5
    assert float(S.spread(x)) == pytest.approx(want, rel=1e-6)
    same = torch.randn(1, 40, generator=g).expand(16, 40).contiguous() + 5.0
    assert float(S.spread(same)) == 0.0
    y = torch.relu(torch.randn(64, 64, generator=g))
    qs, zeros, n = S.quantiles(y)
    sample = y.reshape(-1)[::2][:2048].abs().sort().values
    assert n == 2048 and float(zeros) == int((sample == 0).sum())
    assert qs.tolist() == [float(sample[min(n - 1, round(q * (n - 1)))]) for q in S.QUANTILES]


def test_rows_identical():
    w = torch.randn(6, 5)
    assert S.rows_identical(w)[0] is False
    rows = torch.randn(1, 5).expand(6, 5).contiguous()
    same, mn, mx = S.rows_identical(rows)
    assert bool(same) and float(mn) == float(rows.min()) and float(mx) == float(rows.max())
    # the first two rows equal, a later one not: the whole weight is read
    late = rows.clone()
    late[4, 2] += 1.0
    assert not bool(S.rows_identical(late)[0])


def test_deferred_mixes_tensors_vectors_and_numbers():
    d = S.Deferred()
    a = d.add(torch.tensor(1.5))
    v = d.add_vec(torch.tensor([2.0, 3.0]))
    b = d.add(4.25)
    c = d.add(torch.tensor(True))
    e = d.add(torch.tensor(7, dtype=torch.int64))
    out = d.resolve()
    assert [out[a], out[v[0]], out[v[1]], out[b], out[c], out[e]] == [1.5, 2.0, 3.0, 4.25, 1.0, 7.0]


def test_dense_views_share_an_identity():
    t = torch.randn(2, 3, 4, 5)
    p = t.permute(0, 2, 3, 1)
    assert _dense(t) and _dense(p) and _identity(p) == _identity(t)
    assert _identity(t.reshape(6, 20)) == _identity(t)
    s = t[:, :2]  # a slice holds fewer elements: not the same statistics
    assert not _dense(s) and _identity(s) != _identity(t)
    before = _identity(t)
    t.add_(1.0)  # a changed tensor is never taken for its earlier self, through any view
    assert _identity(p) != before and _identity(t) != before


def test_permuted_input_statistics_equal_a_direct_reading():
    """A LayerNorm reading a permuted view of a conv output (ConvNeXt): its input statistics
    are the conv output's own, and equal a direct reading of the permuted tensor."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.act = nn.ReLU()
            self.norm = nn.LayerNorm(8)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(self.norm(self.act(self.conv(x)).permute(0, 2, 3, 1)))

    torch.manual_seed(0)
    model = Block()
    seen = {}
    h = model.norm.register_forward_hook(lambda m, i, o: seen.update(
        std=float(torch.std(i[0].detach().double(), correction=0)),
        zeros=float((i[0] == 0).double().mean())))
    rows = {r["name"]: r for r in measure(model, torch.randn(4, 3, 10, 10))["layers"]}
    h.remove()
    assert rows["norm"]["in_std"] == pytest.approx(seen["std"], rel=1e-6)
    assert rows["norm"]["in_zero_fraction"] == pytest.approx(seen["zeros"], abs=1e-12)
    assert rows["norm"]["in_zero_fraction"] == rows["act"]["zero_fraction"] > 0.3
