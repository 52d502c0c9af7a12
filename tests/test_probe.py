"""`initlint probe` end to end: real torch models built in the real child process, through
click's CliRunner and as a `python -m initlint` subprocess.

Each probe run pays for one child process importing torch (seconds), so targets are batched:
several targets in one run share one child (the runner re-seeds per target).
"""

import json
import math
import os
import sys
import time

import pytest
from click.testing import CliRunner

from conftest import ROOT, run_cli
from initlint.cli import main

M = "tests.probe_models"
# The models here are tiny: one intra-op thread avoids OpenMP spin-waits on a shared 2-core
# machine (the product leaves torch's default). Subprocess runs inherit it too.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    for k, v in ONE_THREAD.items():
        monkeypatch.setenv(k, v)


def probe(*args, cwd=None, env=None):
    """`initlint probe ARGS` through CliRunner; returns the click Result."""
    runner = CliRunner(env=env)
    if cwd is None:
        return runner.invoke(main, ["probe", *args], catch_exceptions=False)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(main, ["probe", *args], catch_exceptions=False)
    finally:
        os.chdir(old)


def write_config(tmp_path, body: str):
    (tmp_path / "pyproject.toml").write_text(
        f"[tool.initlint.probe]\npath = {json.dumps(ROOT)}\n{body}", encoding="utf-8")
    return tmp_path


def kinds(obj):
    return sorted({v["kind"] for v in obj["verdicts"]})


def by_target(objs):
    return {o["target"]: o for o in objs}


# ---------------------------------------------------------------------------- measured verdicts

def test_verdicts_of_real_models_from_config(tmp_path):
    """A bare `initlint probe` runs the config's targets; each verdict is the measured one."""
    write_config(tmp_path, f"""
targets = [
    "{M}.mlp:deep_mlp",
    "{M}.mlp:he_mlp",
    "{M}.mlp:normal_mlp",
    "{M}.mlp:constant_hidden",
    "{M}.mlp:nan_weights",
    "{M}.mlp:DeadReLU",
    "{M}.convnet:ConvNet",
    "{M}.convnet:Tokens",
    {{ target = "{M}.mlp:deep_mlp", kwargs = {{ init = "he", depth = 3 }}, batch-size = 8 }},
    {{ target = "{M}.broken:NeedsBigInput", input-shape = "2,3,224,224" }},
    "{M}.mlp:deep_mlp",
]
""")
    r = probe("--output-format", "json", "--no-static", cwd=tmp_path)
    assert r.exit_code == 1, r.output
    objs = json.loads(r.stdout)
    assert isinstance(objs, list) and len(objs) == 11
    deep, he, normal, const, nan, dead, conv, tok, small, big, deep2 = objs

    # 20-layer ReLU MLP on PyTorch's default init: the signal shrinks
    assert kinds(deep) == ["vanishing"]
    w = [r for r in deep["layers"] if r["weight"]]
    assert len(w) == 20 and w[0]["name"] == "net.0" and w[-1]["name"] == "net.38"
    assert w[-2]["out_std"] < w[0]["out_std"] / 4
    v = deep["verdicts"][0]
    assert v["layer"] == "net.36" and "threshold of 4" in v["message"]
    assert deep["input_shape"] == [64, 256] and "net.0" in deep["input_note"]
    for key in ("target", "device", "input_shape", "layers", "verdicts"):
        assert key in deep
    row = deep["layers"][0]
    assert set(row) >= {"name", "type", "out_mean", "out_std", "zero_fraction", "grad_std"}
    assert row["type"] == "Linear" and row["grad_std"] > 0 and row["zero_fraction"] == 0.0
    relu = deep["layers"][1]
    assert relu["type"] == "ReLU" and 0.35 < relu["zero_fraction"] < 0.65 and relu["grad_std"] is None
    assert deep["device"] == "cpu" and deep["healthy"] is False

    # the same with He init: healthy, std stays within 4× from first to last
    assert he["verdicts"] == [] and he["healthy"] is True
    hw = [r for r in he["layers"] if r["weight"]]
    assert 0.25 < hw[-1]["out_std"] / hw[0]["out_std"] < 4

    # N(0, 1) weights: explodes
    assert kinds(normal) == ["exploding"]
    nw = [r for r in normal["layers"] if r["weight"]]
    assert nw[-2]["out_std"] > 1e6 * nw[0]["out_std"]

    # a constant hidden layer: every unit identical
    assert "symmetry" in kinds(const)
    sym = [v for v in const["verdicts"] if v["kind"] == "symmetry"]
    assert [v["layer"] for v in sym] == ["net.4"]
    p = next(p for p in const["params"] if p["name"] == "net.4.weight")
    assert p["rows_identical"] and p["zero_variance"] and not p["all_zero"] and p["rows"] == 256

    # NaN in a weight
    assert kinds(nan) == ["nonfinite"]
    assert {v["layer"] for v in nan["verdicts"]} >= {"net.2"}
    assert next(r for r in nan["layers"] if r["name"] == "net.2")["nonfinite"] is True

    # a bias of -5 kills the second ReLU
    assert kinds(dead) == ["dead"] and dead["verdicts"][0]["layer"] == "act2"

    # conv net: input (B, 3, 32, 32) inferred from the first conv; BatchNorm keeps it healthy
    assert conv["input_shape"] == [64, 3, 32, 32] and "stem" in conv["input_note"]
    assert conv["verdicts"] == []
    assert [r["name"] for r in conv["layers"]][:3] == ["stem", "bn1", "act"]
    assert any(r["name"] == "act" and r["call"] == 2 for r in conv["layers"])  # reused ReLU

    # embedding first: token ids
    assert tok["input_kind"] == "tokens" and tok["input_shape"] == [64, 16]
    assert tok["input_dtype"] == "int64"

    # per-target kwargs and batch size from a config table
    assert small["input_shape"] == [8, 256] and small["verdicts"] == []
    assert len([r for r in small["layers"] if r["weight"]]) == 3
    # an explicit input shape from the config
    assert big["input_shape"] == [2, 3, 224, 224] and "given" in big["input_note"]

    # every RNG re-seeded per target: the same target twice measures the same numbers
    assert [r["out_std"] for r in deep2["layers"]] == [r["out_std"] for r in deep["layers"]]


def test_subprocess_json_two_targets_and_lsuv():
    r = run_cli("probe", f"{M}.mlp:deep_mlp", f"{M}.mlp:he_mlp", "--output-format", "json",
                "--lsuv-apply", "--kwargs", '{"depth": 10}', "--device", "cpu", cwd=ROOT)
    assert r.returncode == 1, r.stderr.decode()
    deep, he = json.loads(r.stdout)
    assert kinds(deep) == ["vanishing"] and he["verdicts"] == []
    assert len([x for x in deep["layers"] if x["weight"]]) == 10  # --kwargs reached the factory
    # LSUV: factors that bring every weight layer's output to unit variance
    rows = deep["lsuv"]["layers"]
    assert [x["name"] for x in rows] == [f"net.{2 * i}" for i in range(10)]
    for x in rows:
        assert x["converged"] and abs(x["std_after"] ** 2 - 1) < 0.1
        assert x["scale"] > 1  # default init is too small for ReLU
    # ... and the rescaled copy measures healthy
    after = deep["lsuv"]["after"]
    assert after["verdicts"] == []
    aw = [x for x in after["layers"] if x["weight"]]
    assert all(0.9 < x["out_std"] < 1.1 for x in aw)


def test_subprocess_text_table_sparkline_and_plot(tmp_path):
    plot = tmp_path / "probe.svg"
    r = run_cli("probe", f"{M}.mlp:deep_mlp", "--plot", str(plot), "--lsuv", "--device", "cpu",
                cwd=ROOT, env={"PYTHONIOENCODING": "utf-8"})
    out = r.stdout.decode("utf-8")
    assert r.returncode == 1, r.stderr.decode()
    assert "net.38" in out and "Linear" in out and "ReLU" in out
    assert "vanishing" in out and "result: 1 problem measured (vanishing)" in out
    spark = next(line for line in out.splitlines() if "weight-layer calls" in line)
    assert len(spark.split(": ")[-1]) == 20 and spark.split(": ")[-1][0] == "█"
    assert "LSUV scale factors" in out and "net.0.weight" in out
    assert "inferred from `net.0` (Linear, in_features=256)" in out
    assert plot.exists()
    svg = plot.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "vanishing" in svg


# ---------------------------------------------------------------------------- static join

def test_static_findings_confirmed_by_measurement():
    r = probe(f"{M}.static_models:DefaultChain", f"{M}.static_models:XavierReLU",
              f"{M}.static_models:ZeroHidden", f"{M}.static_models:Wrapper",
              "--output-format", "json", "--path", ROOT, "--device", "cpu")
    assert r.exit_code == 1, r.output
    chain, xavier, zero, wrapper = json.loads(r.stdout)

    def finding(obj, code):
        items = [f for f in obj["static"]["findings"] if f["code"] == code]
        assert items, obj["static"]
        return items[0]

    f = finding(chain, "IL203")
    assert f["model"].endswith("probe_models.static_models.DefaultChain") and f["layer"] == "net.0"
    assert f["status"] == "confirmed" and "net.12" in f["evidence"]
    assert f["filename"].endswith(os.path.join("probe_models", "static_models.py"))
    assert chain["static"]["files"] == [os.path.join("tests", "probe_models", "static_models.py")]

    f = finding(xavier, "IL101")
    assert f["layer"] == "fc1" and f["status"] == "confirmed"
    assert "entering `fc2`" in f["evidence"] and "per layer" in f["evidence"]

    f = finding(zero, "IL201")
    assert f["status"] == "confirmed" and "fc2.weight" in f["evidence"]
    f = finding(zero, "IL202")
    assert f["status"] == "confirmed" and "`fc3`" in f["evidence"]
    assert "symmetry" in kinds(zero)  # the zero layer collapses the output

    # findings on a class used twice inside another model join through each instance's path
    f = finding(wrapper, "IL203")
    assert f["instances"] == ["a", "b"] and "`a.net.2`" in f["evidence"]
    assert f["status"] == "confirmed" and "instance `a`" in f["evidence"]
    # ... and only findings on classes the model instantiates are listed
    assert {x["model"].rsplit(".", 1)[-1] for x in wrapper["static"]["findings"]} == {
        "DefaultChain"}


def test_static_join_not_confirmed_when_normalized(tmp_path):
    """IL101 on a layer that BatchNorm follows: the measurement does not show the shrink."""
    (tmp_path / "bnmodel.py").write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc1 = nn.Linear(64, 64)\n"
        "        self.bn1 = nn.BatchNorm1d(64)\n"
        "        self.fc2 = nn.Linear(64, 64)\n"
        "        self.bn2 = nn.BatchNorm1d(64)\n"
        "        self.fc3 = nn.Linear(64, 10)\n"
        "        nn.init.xavier_uniform_(self.fc1.weight)\n"
        "        nn.init.xavier_uniform_(self.fc2.weight)\n\n"
        "    def forward(self, x):\n"
        "        x = torch.relu(self.bn1(self.fc1(x)))\n"
        "        x = torch.relu(self.bn2(self.fc2(x)))\n"
        "        return self.fc3(x)\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.initlint]\nshow-info = true\n\n[tool.initlint.probe]\ndevice = "cpu"\n')
    r = probe("bnmodel:Net", "--output-format", "json", "--path", str(tmp_path), cwd=tmp_path)
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    st = [f for f in obj["static"]["findings"] if f["code"] == "IL101"]
    assert st, obj["static"]  # `info` (normalized directly), shown because of show-info
    for f in st:
        assert f["severity"] == "info"
        assert f["status"] == "not confirmed", f
    by_layer = {f["layer"]: f["evidence"] for f in st}
    assert "×1.0" in by_layer["fc1"] or "×0.9" in by_layer["fc1"]  # the signal keeps its std
    assert "`bn2` (BatchNorm1d) renormalizes" in by_layer["fc2"]


# ---------------------------------------------------------------------------- failures

def test_failures_are_one_paragraph_and_exit_2(tmp_path):
    write_config(tmp_path, f"""
memory-mb = 200
targets = [
    "{M}.broken:raises",
    "{M}.broken:not_a_module",
    "{M}.broken:NeedsBigInput",
    "{M}.broken:Unknown",
    "{M}.broken:nope",
    "{M}.nosuch:Model",
    "{M}.broken:big_linear",
    "{M}.mlp:he_mlp",
]
""")
    r = run_cli("probe", "--output-format", "json", cwd=str(tmp_path))
    assert r.returncode == 2
    err = r.stderr.decode()
    assert "Traceback" not in err
    objs = by_target(json.loads(r.stdout))
    paragraphs = [p for p in err.split("initlint probe: error: ") if p.strip()]
    assert len(paragraphs) == 7

    e = objs[f"{M}.broken:raises"]["error"]
    assert e["stage"] == "build" and e["exception"] == "ValueError: width must be at least 16, got 8"
    assert e["where"]["file"].endswith("broken.py") and e["where"]["func"] == "raises"
    assert "raise ValueError" in e["where"]["code"] and "--kwargs" in e["hint"]
    assert "building the model failed: ValueError: width must be at least 16" in err

    assert objs[f"{M}.broken:not_a_module"]["error"]["stage"] == "build"
    assert "not a torch.nn.Module" in objs[f"{M}.broken:not_a_module"]["error"]["message"]

    e = objs[f"{M}.broken:NeedsBigInput"]["error"]
    assert e["stage"] == "forward" and "mat1 and mat2" in e["exception"]
    assert "--input-shape" in e["hint"] and "(64, 3, 32, 32)" in e["hint"]

    e = objs[f"{M}.broken:Unknown"]["error"]
    assert e["stage"] == "input" and "--input-shape" in e["message"]

    e = objs[f"{M}.broken:nope"]["error"]
    assert e["stage"] == "attribute" and "NeedsBigInput" in e["hint"]

    e = objs[f"{M}.nosuch:Model"]["error"]
    assert e["stage"] == "import" and "--path" in e["hint"]

    e = objs[f"{M}.broken:big_linear"]["error"]
    assert e["stage"] == "memory" and "--memory-mb" in e["message"]

    # a failing target does not stop the others
    assert objs[f"{M}.mlp:he_mlp"]["ok"] is True and objs[f"{M}.mlp:he_mlp"]["verdicts"] == []


def test_factory_error_via_clirunner_text():
    r = probe(f"{M}.broken:raises", "--kwargs", '{"width": 4}', "--path", ROOT)
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr.startswith("initlint probe: error: tests.probe_models.broken:raises: "
                               "building the model failed: ValueError: width must be at least 16, "
                               "got 4")
    assert '{"width": 4}' in r.stderr and "Traceback" not in r.stderr


def test_hang_is_killed_at_the_time_limit_clirunner():
    t0 = time.monotonic()
    r = probe(f"{M}.broken:hangs", "--timeout", "2", "--path", ROOT, "--output-format", "json",
              env={"INITLINT_PROBE_PROGRESS_AFTER": "0.5"})
    wall = time.monotonic() - t0
    assert r.exit_code == 2
    e = json.loads(r.stdout)["error"]
    assert e["stage"] == "timeout" and "2 s" in e["message"] and "building the model" in e["message"]
    assert 2.0 <= e["context"]["elapsed_s"] <= 3.0
    assert wall < 2.0 + 60  # start-up (import torch) + the limit, never the 600 s sleep
    assert "timed out" in r.stderr
    assert "initlint probe: tests.probe_models.broken:hangs: building the model…" in r.stderr


def test_hang_kills_the_process_group_and_the_next_target_runs(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    write_config(tmp_path, f"""
timeout = 2
targets = [
    {{ target = "{M}.broken:hangs", kwargs = {{ pid_file = {json.dumps(str(pid_file))} }} }},
    "{M}.mlp:he_mlp",
]
""")
    r = run_cli("probe", "--output-format", "json", "--no-static", cwd=str(tmp_path))
    assert r.returncode == 2, r.stderr.decode()
    hang, he = json.loads(r.stdout)
    assert hang["error"]["stage"] == "timeout"
    assert 2.0 <= hang["error"]["context"]["elapsed_s"] <= 3.0
    assert he["ok"] and he["verdicts"] == []  # a fresh child ran the next target
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"grandchild {pid} still alive after the time limit")


def test_torch_missing_in_the_child(tmp_path):
    """A `torch` that cannot be imported (shadowed here) is a clear message naming the extra."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise ImportError('No module named torch._C')\n")
    (tmp_path / "model.py").write_text("def make():\n    return None\n")
    r = probe("model:make", "--path", str(tmp_path))
    assert r.exit_code == 2
    assert "could not import torch" in r.stderr and "pip install 'initlint[probe]'" in r.stderr


def test_torch_not_installed_in_the_parent(monkeypatch):
    import initlint.probe.cli as pc

    monkeypatch.setattr(pc, "torch_available", lambda: False)
    r = probe(f"{M}.mlp:he_mlp")
    assert r.exit_code == 2
    assert "needs PyTorch" in r.stderr and "pip install 'initlint[probe]'" in r.stderr


def test_plot_needs_matplotlib(monkeypatch, tmp_path):
    import initlint.probe.plot as pp

    monkeypatch.setattr(pp, "available", lambda: False)
    r = probe(f"{M}.mlp:he_mlp", "--plot", str(tmp_path / "x.png"))
    assert r.exit_code == 2 and "pip install 'initlint[plot]'" in r.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args,needle", [
    ([f"{M}.mlp:he_mlp", "--kwargs", "{depth: 3}"], "--kwargs: invalid JSON"),
    ([f"{M}.mlp:he_mlp", "--kwargs", "[1, 2]"], "--kwargs: expected a JSON object"),
    ([f"{M}.mlp:he_mlp", "--input-shape", "8,a,3"], "--input-shape: expected comma-separated"),
    ([f"{M}.mlp:he_mlp", "--input-shape", "8,0"], "--input-shape: expected comma-separated"),
    (["tests.probe_models.mlp.he_mlp"], "expected MODULE:FACTORY"),
    (["tests/probe_models/nothere.py:f"], "no such file"),
    (["1bad.module:f"], "not a dotted module name"),
    ([f"{M}.mlp:he-mlp"], "is not a Python name"),
    ([f"{M}.mlp:he_mlp", "--plot", "out.pdf"], "must end in .png or .svg"),
    ([f"{M}.mlp:he_mlp", "--path", "/no/such/dir"], "no such directory"),
])
def test_usage_errors(args, needle):
    r = probe(*args)
    assert r.exit_code == 2
    assert needle in r.stderr, r.stderr


def test_click_rejects_bad_device_and_threshold():
    r = probe(f"{M}.mlp:he_mlp", "--device", "tpu")
    assert r.exit_code == 2 and "tpu" in r.stderr
    r = probe(f"{M}.mlp:he_mlp", "--threshold", "1")
    assert r.exit_code == 2


@pytest.mark.parametrize("body,needle", [
    ('threshold = "big"', "tool.initlint.probe.threshold: expected a number > 1"),
    ("timeout = 0", "tool.initlint.probe.timeout: expected a number > 0"),
    ('device = "tpu"', "tool.initlint.probe.device: expected one of"),
    ('input-shape = "a,b"', "tool.initlint.probe.input-shape"),
    ("batch-size = 2.5", "tool.initlint.probe.batch-size: expected an integer"),
    ("targets = [1]", "targets[0]: expected a string or a table"),
    ('targets = [{ target = "a:b", colour = 1 }]', "unknown key 'colour'"),
    ("speed = 1", "unknown probe key 'speed'"),
])
def test_config_errors(tmp_path, body, needle):
    write_config(tmp_path, body + "\n")
    r = probe(cwd=tmp_path)
    assert r.exit_code == 2
    assert needle in r.stderr, r.stderr


def test_no_target_anywhere(tmp_path):
    r = probe(cwd=tmp_path)
    assert r.exit_code == 2 and "no target" in r.stderr


def test_help_and_registration():
    r = CliRunner().invoke(main, ["--help"])
    assert "probe" in r.output
    r = CliRunner().invoke(main, ["probe", "--help"])
    assert r.exit_code == 0
    for opt in ("--kwargs", "--input-shape", "--timeout", "--device", "--plot", "--lsuv",
                "--memory-mb", "--threshold", "--output-format"):
        assert opt in r.output


def test_parent_never_imports_torch():
    code = ("import sys\n"
            "import initlint.cli, initlint.probe.cli, initlint.probe.runner, initlint.probe.report,"
            " initlint.probe.verdicts, initlint.probe.join, initlint.probe.plot\n"
            "from click.testing import CliRunner\n"
            "CliRunner().invoke(initlint.cli.main, ['probe', '--help'])\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    import subprocess

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr.decode()


def test_device_cuda_without_cuda_is_a_clear_error():
    if os.path.exists("/dev/nvidia0"):
        pytest.skip("a GPU is present")
    r = probe(f"{M}.mlp:he_mlp", "--device", "cuda", "--path", ROOT)
    assert r.exit_code == 2
    assert "CUDA is not available" in r.stderr and "--device cpu" in r.stderr


@pytest.mark.cuda
def test_probe_on_cuda():
    if not os.path.exists("/dev/nvidia0"):
        pytest.skip("no CUDA GPU")
    r = probe(f"{M}.mlp:deep_mlp", f"{M}.convnet:ConvNet", "--device", "cuda", "--path", ROOT,
              "--output-format", "json", "--no-static")
    objs = json.loads(r.stdout)
    if objs[0].get("error", {}).get("stage") == "device":
        pytest.skip("torch was built without CUDA")
    assert r.exit_code == 1, r.output
    deep, conv = objs
    assert deep["device"].startswith("cuda") and kinds(deep) == ["vanishing"]
    assert conv["verdicts"] == [] and conv["cuda_peak_mb"] > 0
    # probe v2 on the GPU: the trace, the prediction and the verdicts of real architectures,
    # inputs given by a function (moved to the device), a user loss
    A = "tests.probe_models.arch"
    r = probe(f"{A}:GPT", f"{A}:ViT", f"{A}:BiasMLP", "--device", "cuda", "--path", ROOT,
              "--output-format", "json", "--no-static", "--batch-size", "8")
    gpt, vit, bias = json.loads(r.stdout)
    assert gpt["device"].startswith("cuda") and gpt["verdicts"] == [] and vit["verdicts"] == []
    assert kinds(bias) == ["collapsed"]
    for obj in (gpt, vit, bias):
        assert obj["prediction"]["within_2x"] == obj["prediction"]["predicted"] > 0
    r = probe(f"{A}:TwoInputs", "--inputs", f"{A}:two_inputs_batch", "--device", "cuda",
              "--path", ROOT, "--output-format", "json", "--no-static")
    two = json.loads(r.stdout)
    assert r.exit_code == 0 and two["device"].startswith("cuda"), r.output
    r = probe(f"{A}:GPT", "--loss", f"{A}:gpt_loss", "--device", "cuda", "--path", ROOT,
              "--output-format", "json", "--no-static", "--batch-size", "4")
    assert r.exit_code == 0 and math.isfinite(json.loads(r.stdout)["loss"]), r.output
