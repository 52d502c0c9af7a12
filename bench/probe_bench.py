"""Cost of `initlint probe` against a bare forward+backward of the same model and batch.

    python bench/probe_bench.py [--repeat 5] [--models mlp,convnet,transformer] [--threads N]
    python bench/probe_bench.py --arch [--repeat 5]     # the architectures of the test suite

With --arch: the real architectures of `tests/probe_models/arch.py` (ResNet, VGG, GPT,
ConvNeXt, ViT, Fixup, a bias-dominated MLP, a two-input and a dict-input model) at the
batch the tests use, measurement time only (1. below) plus the predicted-vs-measured output
std of every weight layer (`--table`).

Three measurements per model:

1. measurement time, in one warm process: `initlint.probe.measure.measure` (hooks, statistics,
   backward, per-parameter stats) vs model(x) + the same loss + backward. Best of --repeat
   runs, alternating. Target ≤ 1.5×.
2. peak memory, fresh processes: VmHWM of (a) import+build+input only, (b) bare
   forward+backward, (c) the probe's measurement (with the environment the runner gives its
   child). Median of 3; reported as totals and as the increment over (a). Target ≤ 1.5×.
3. end to end: wall time of `python -m initlint probe MODEL --no-static` vs a fresh
   `python -c` that imports torch, builds the model and runs forward+backward once. Both pay
   for the interpreter and `import torch`.

The models are defined in this file (the probe imports it as `probe_bench` with --path bench).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

MODELS = {
    # name: (factory, input shape, note)
    "mlp": ("mlp", [256, 1024], "20 × Linear(1024, 1024) + ReLU, batch 256"),
    "convnet": ("convnet", [32, 3, 64, 64], "ResNet-style, 8 conv+BN+ReLU blocks, 64 ch, 32×3×64×64"),
    "transformer": ("transformer", [32, 128], "Embedding + 4 × TransformerEncoderLayer(256), 32×128 tokens"),
}


# ---------------------------------------------------------------------------- the models

def mlp():
    from torch import nn

    layers = []
    for _ in range(20):
        layers += [nn.Linear(1024, 1024), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def convnet():
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 64, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.blocks = nn.Sequential(*[Block(64) for _ in range(4)])
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = self.blocks(self.relu(self.bn(self.stem(x))))
            return self.fc(torch.flatten(self.pool(x), 1))

    return Net()


def transformer():
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(1000, 256)
            layer = nn.TransformerEncoderLayer(256, 4, 1024, batch_first=True)
            self.enc = nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)
            self.head = nn.Linear(256, 1000)

        def forward(self, ids):
            return self.head(self.enc(self.emb(ids)))

    return Net()


ARCH = {
    # name: (factory in tests/probe_models/arch.py, its kwargs, batch function or None,
    #        batch size, input shape or None); widths between the tests' toy ones and the
    #        reference models', so that per-layer costs are not all fixed overhead
    "resnet": ("ResNet", {"widths": (32, 64, 128)}, None, 32, None),
    "vgg": ("VGG", {"cfg": (32, "M", 64, "M", 128, 128, "M", 256, 256, "M"), "hidden": 512},
            None, 16, None),
    "gpt": ("GPT", {"vocab": 1024, "dim": 128, "layers": 4, "heads": 4, "block": 64}, None,
            32, [32, 64]),
    "convnext": ("ConvNeXt", {"dims": (64, 128), "depths": (2, 2)}, None, 16,
                 [16, 3, 64, 64]),
    "vit": ("ViT", {"image_size": 64, "dim": 128, "depth": 4, "heads": 4, "mlp": 256}, None,
            32, None),
    "fixup": ("FixupNet", {"dim": 32}, None, 32, None),
    "bias_mlp": ("BiasMLP", {"width": 512}, None, 256, None),
    "two_inputs": ("TwoInputs", {"width": 64}, "two_inputs_batch", 64, None),
    "dict_input": ("DictInput", {"dim": 256}, "dict_batch", 2048, None),
}


def _arch(name, torch, toy: bool = False):
    """(model, Batch) for an architecture of the test suite (`toy`: at the tests' size)."""
    sys.path.insert(0, ROOT)
    from initlint.probe import measure as M
    from tests.probe_models import arch

    factory, kwargs, batch_fn, bs, shape = ARCH[name]
    if toy:
        kwargs, bs, shape = {}, 16, None
    torch.manual_seed(0)
    model = getattr(arch, factory)(**kwargs)
    if batch_fn:
        batch, _ = M.batch_from(getattr(arch, batch_fn)(bs), model, torch.device("cpu"), "")
    else:
        batch, _ = M.build_input(model, shape, bs, torch.device("cpu"), True)
    return model, batch


def _arch_timing(name: str, repeat: int, toy: bool = False) -> tuple[float, float, dict]:
    """Best-of-N seconds of a bare forward+backward (the same seeded cotangent) and of the
    probe's measurement; and the measurement itself."""
    import torch

    from initlint.probe import measure as M

    model, batch = _arch(name, torch, toy)
    model.train()

    def bare():
        for p in model.parameters():
            p.grad = None
        t = M.first_tensor(model(*batch.args, **batch.kwargs))
        (t * M.cotangent(t, 0)).sum().backward()

    def probe():
        return M.measure(model, batch)

    bare(), probe()
    tb, tp = [], []
    data = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        bare()
        tb.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        data = probe()
        tp.append(time.perf_counter() - t0)
    return min(tb), min(tp), data


def arch_main(args) -> None:
    import torch

    from initlint.probe.report import prediction_check

    rows = []
    for name in (args.models.split(",") if args.models != ",".join(MODELS) else ARCH):
        tb, tp, data = _arch_timing(name, args.repeat, args.toy)
        rows.append({"model": name, "bare_s": tb, "probe_s": tp, "time_ratio": tp / tb,
                     "prediction": prediction_check(data["layers"]),
                     "layers": [(r["name"], r["out_std"], r.get("predicted"))
                                for r in data["layers"] if r["weight"]]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
          f"best of {args.repeat}")
    print()
    print(f"{'model':<12} {'fwd+bwd':>9} {'probe':>9} {'ratio':>6}   predicted within 2×")
    for r in rows:
        c = r["prediction"]
        worst = f", worst ×{c['worst_ratio']:.2f}" if c["worst_ratio"] not in (None,) and \
            c["worst_ratio"] != float("inf") else ""
        print(f"{r['model']:<12} {r['bare_s'] * 1000:>7.1f}ms {r['probe_s'] * 1000:>7.1f}ms "
              f"{r['time_ratio']:>5.2f}×   {c['within_2x']}/{c['predicted']} of "
              f"{c['weight_layers']}{worst}")
    if args.table:
        for r in rows:
            print()
            print(f"{r['model']}: weight layer, measured std, predicted std")
            for name, got, want in r["layers"]:
                w = f"{want:.4g}" if want is not None else "—"
                print(f"  {name:<28} {got:>10.4g} {w:>10}")


def _input(name, torch):
    shape = MODELS[name][1]
    if name == "transformer":
        return torch.randint(0, 1000, shape)
    return torch.randn(shape)


# ---------------------------------------------------------------------------- workers

def _worker(mode: str, name: str) -> None:
    """One fresh process: prints JSON {maxrss_mb, seconds}."""
    import torch

    sys.path.insert(0, ROOT)
    from initlint.probe import measure as M

    torch.manual_seed(0)
    model = globals()[MODELS[name][0]]()
    model.train()
    x = _input(name, torch)
    t0 = time.perf_counter()
    if mode == "bare":
        out = model(x)
        M._loss(M.first_tensor(out)).backward()
    elif mode == "probe":
        M.measure(model, x)
    t = time.perf_counter() - t0
    # VmHWM, not ru_maxrss: Linux carries the parent's ru_maxrss over fork+exec
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    print(json.dumps({"maxrss_mb": hwm / 1024, "seconds": t}))


def _fresh(mode: str, name: str, threads: int | None) -> dict:
    env = dict(os.environ)
    if mode == "probe":  # the environment initlint's runner gives its child
        sys.path.insert(0, ROOT)
        from initlint.probe.runner import CHILD_ENV

        env = dict(CHILD_ENV, **env)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    r = subprocess.run([sys.executable, __file__, "--worker", mode, name], capture_output=True,
                       env=env, check=True)
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def _timing(name: str, repeat: int) -> tuple[float, float]:
    import torch

    sys.path.insert(0, ROOT)
    from initlint.probe import measure as M

    torch.manual_seed(0)
    model = globals()[MODELS[name][0]]()
    model.train()
    x = _input(name, torch)

    def bare():
        for p in model.parameters():
            p.grad = None
        out = model(x)
        M._loss(M.first_tensor(out)).backward()

    def probe():
        M.measure(model, x)

    bare(), probe()  # warm-up: lazy kernels, allocator
    tb, tp = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        bare()
        tb.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        probe()
        tp.append(time.perf_counter() - t0)
    return min(tb), min(tp)  # best of N: on a shared machine noise only ever adds time


def _end_to_end(name: str, threads: int | None, repeat: int) -> tuple[float, float]:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    shape = ",".join(str(s) for s in MODELS[name][1])
    bare_code = ("import sys, torch; sys.path.insert(0, {here!r}); import probe_bench as b; "
                 "torch.manual_seed(0); m = b.{f}(); m.train(); x = b._input({n!r}, torch); "
                 "o = m(x); (o.double().pow(2).mean()).backward()").format(
                     here=HERE, f=MODELS[name][0], n=name)
    tb, tp = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", bare_code], env=env, check=True,
                       capture_output=True)
        tb.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "initlint", "probe",
                            f"probe_bench:{MODELS[name][0]}", "--path", HERE, "--input-shape",
                            shape, "--no-static", "--device", "cpu", "-q", "--output-format",
                            "json"], env=env, cwd=ROOT, capture_output=True)
        tp.append(time.perf_counter() - t0)
        if r.returncode not in (0, 1):
            raise SystemExit(r.stderr.decode())
    return min(tb), min(tp)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--threads", type=int, default=None,
                    help="OMP_NUM_THREADS for the fresh processes (default: torch's default)")
    ap.add_argument("--worker", nargs=2, metavar=("MODE", "MODEL"), help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON")
    ap.add_argument("--arch", action="store_true",
                    help="the test suite's architectures (measurement time and prediction)")
    ap.add_argument("--toy", action="store_true",
                    help="with --arch: at the test suite's toy widths (per-layer overhead "
                         "dominates there)")
    ap.add_argument("--table", action="store_true",
                    help="with --arch: measured and predicted std of every weight layer")
    args = ap.parse_args()
    if args.worker:
        _worker(*args.worker)
        return
    if args.arch:
        if args.threads:
            os.environ["OMP_NUM_THREADS"] = str(args.threads)
        arch_main(args)
        return
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    rows = []
    for name in args.models.split(","):
        tb, tp = _timing(name, args.repeat)
        base = [_fresh("build", name, args.threads)["maxrss_mb"] for _ in range(3)]
        bare = [_fresh("bare", name, args.threads)["maxrss_mb"] for _ in range(3)]
        prob = [_fresh("probe", name, args.threads)["maxrss_mb"] for _ in range(3)]
        mb, mbare, mprobe = (statistics.median(v) for v in (base, bare, prob))
        eb, ep = _end_to_end(name, args.threads, max(1, args.repeat // 2))
        rows.append({"model": name, "what": MODELS[name][2], "bare_s": tb, "probe_s": tp,
                     "time_ratio": tp / tb, "rss_build_mb": mb, "rss_bare_mb": mbare,
                     "rss_probe_mb": mprobe, "mem_ratio": mprobe / mbare,
                     "mem_increment_ratio": (mprobe - mb) / max(mbare - mb, 1e-9),
                     "e2e_bare_s": eb, "e2e_probe_s": ep, "e2e_ratio": ep / eb})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
          f"timing: best of {args.repeat}; memory: median of 3")
    print()
    print(f"{'model':<12} {'fwd+bwd':>9} {'probe':>9} {'ratio':>6}   {'peak RSS: build':>15} "
          f"{'bare':>8} {'probe':>8} {'ratio':>6} {'incr.':>6}   {'end to end: bare':>16} "
          f"{'probe':>7} {'ratio':>6}")
    for r in rows:
        print(f"{r['model']:<12} {r['bare_s'] * 1000:>7.1f}ms {r['probe_s'] * 1000:>7.1f}ms "
              f"{r['time_ratio']:>5.2f}×   {r['rss_build_mb']:>13.0f}MB {r['rss_bare_mb']:>6.0f}MB "
              f"{r['rss_probe_mb']:>6.0f}MB {r['mem_ratio']:>5.2f}× {r['mem_increment_ratio']:>5.2f}×"
              f"   {r['e2e_bare_s']:>15.2f}s {r['e2e_probe_s']:>6.2f}s {r['e2e_ratio']:>5.2f}×")
    print()
    for r in rows:
        print(f"  {r['model']}: {r['what']}")
    print("  incr. = (probe peak − build-only peak) / (bare peak − build-only peak)")


if __name__ == "__main__":
    main()
