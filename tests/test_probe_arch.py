"""Probe v2 on real architectures built in `tests/probe_models/arch.py`: the right verdict for
each, the static prediction of every weight layer's output std checked against the
measurement, inputs of any form, user losses, LSUV that knows norms, and containment of the
whole process tree. Every model runs in the real child process."""

import json
import math
import os
import sys
import time

import pytest
from click.testing import CliRunner

from conftest import ROOT, run_cli
from initlint.cli import main

A = "tests.probe_models.arch"
NORM_FREE = ("VGG", "FixupNet", "BiasMLP", "TwoInputs", "DictInput")


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def probe(*args, cwd=None):
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(main, ["probe", *args], catch_exceptions=False)
    finally:
        os.chdir(old)


def kinds(obj):
    return sorted({v["kind"] for v in obj["verdicts"]})


def ratio(a, b):
    if a == b:
        return 1.0
    lo, hi = min(a, b), max(a, b)
    return math.inf if lo == 0 else hi / lo


@pytest.fixture(scope="module")
def arch(tmp_path_factory):
    """All the architectures in one probe run (one child process, one `import torch`)."""
    tmp = tmp_path_factory.mktemp("arch")
    (tmp / "pyproject.toml").write_text(f"""
[tool.initlint.probe]
path = {json.dumps(ROOT)}
device = "cpu"
batch-size = 16
targets = [
  "{A}:ResNet", "{A}:VGG", "{A}:GPT", "{A}:ConvNeXt", "{A}:ViT", "{A}:FixupNet", "{A}:BiasMLP",
  {{ target = "{A}:TwoInputs", inputs = "{A}:two_inputs_batch" }},
  {{ target = "{A}:DictInput", inputs = "{A}:dict_batch" }},
]
""", encoding="utf-8")
    old = os.getcwd()
    os.chdir(tmp)
    try:
        r = CliRunner().invoke(main, ["probe", "--output-format", "json", "--no-static"],
                               catch_exceptions=False)
    finally:
        os.chdir(old)
    assert r.exit_code == 1, r.output  # VGG and BiasMLP have problems
    objs = json.loads(r.stdout)
    return {o["target"].rsplit(":", 1)[-1]: o for o in objs}


def test_every_architecture_gets_the_right_verdict(arch):
    for name in ("ResNet", "GPT", "ConvNeXt", "ViT", "FixupNet", "TwoInputs", "DictInput"):
        assert arch[name]["ok"], arch[name]
        assert arch[name]["verdicts"] == [], (name, arch[name]["verdicts"])
    # torchvision's N(0, 0.01) classifier at a 256-wide input shrinks the signal for real
    vgg = arch["VGG"]["verdicts"]
    assert [v["kind"] for v in vgg] == ["vanishing"]
    assert vgg[0]["layer"].startswith("classifier.") and "no normalization" in vgg[0]["message"]
    # biases N(0, 1): each output has std ≈ 1, but every sample gives the same one
    bias = arch["BiasMLP"]
    assert kinds(bias) == ["collapsed"]
    assert "no longer depends on the input" in bias["verdicts"][0]["message"]
    last = [r for r in bias["layers"] if r["weight"]][-2]
    assert last["out_std"] > 0.5 and last["spread"] < 1e-3 * last["out_std"]


def test_what_the_verdicts_look_at(arch):
    # ConvNeXt: layer scale (C, 1, 1) and containers with parameters are not weight layers
    cn = arch["ConvNeXt"]
    names = {r["name"] for r in cn["layers"] if r["weight"]}
    assert not any(n.endswith(("0", "1")) and n.count(".") == 2 for n in names
                   if n.startswith("features.1."))  # the blocks themselves
    assert all(p["matrix"] is False for p in cn["params"] if p["name"].endswith("layer_scale"))
    # the branch ends (pwconv2, added to the stream through the layer scale) are marked
    ends = {r["name"] for r in cn["layers"] if r.get("residual_end")}
    assert "features.1.0.pwconv2" in ends and "features.1.0.pwconv1" not in ends
    # GPT: pre-LN; the LayerNorms read the residual stream, whose std the verdict compares
    gpt = arch["GPT"]
    assert {r["name"] for r in gpt["layers"] if r.get("stream")} >= {"h.0.ln_1", "h.2.ln_2"}
    emb = next(r for r in gpt["layers"] if r["name"] == "wte")
    assert 0.015 < emb["out_std"] < 0.025  # std-0.02 embeddings: not "exploding" after the LN
    # ViT: its input size is what it declares; the zero head is no symmetry, no vanishing
    vit = arch["ViT"]
    assert vit["input_shape"] == [16, 3, 32, 32] and "image_size" in vit["input_note"]
    head = next(r for r in vit["layers"] if r["name"] == "head")
    assert head["out_std"] == 0.0
    # the random cotangent gives the zero head a real gradient (a loss of the output's own
    # scale, mean(y²), is flat at y = 0); the layers behind it get theirs after one step
    assert head["grad_std"] > 0
    assert all(r["grad_std"] > 0 for r in gpt["layers"] if r["weight"])  # through ln_f
    # Fixup: the zero-initialized branch ends are neither vanishing nor symmetry
    fix = arch["FixupNet"]
    zero = [p for p in fix["params"] if p["name"].endswith("conv2.weight")]
    assert zero and all(p["all_zero"] for p in zero)
    # ResNet: BN resets scale; zero γ of the last BN of each block is fine
    assert arch["ResNet"]["verdicts"] == []


def test_inputs_of_any_form(arch):
    two = arch["TwoInputs"]
    assert "model(*batch) with 2 arguments" in two["input_note"]
    d = arch["DictInput"]
    assert "model(batch) with a dict, 3 tensors" in d["input_note"]
    assert d["input_kind"] == "tokens" and d["input_dtype"] == "int64"


def test_prediction_within_2x_on_the_norm_free_models(arch):
    for name in NORM_FREE:
        rows = [r for r in arch[name]["layers"] if r["weight"]]
        assert rows, name
        for r in rows:
            assert r["predicted"] is not None, (name, r["name"])
            assert ratio(r["predicted"], r["out_std"]) <= 2.0, (name, r["name"], r["predicted"],
                                                                r["out_std"])
        check = arch[name]["prediction"]
        assert check["within_2x"] == check["predicted"] == len(rows)
    # the prediction also foresees VGG's vanishing signal
    vgg = [r for r in arch["VGG"]["layers"] if r["weight"]]
    assert vgg[-2]["predicted"] < vgg[0]["predicted"] / 4
    # init moments come from the static analysis where it resolves the init
    assert arch["GPT"]["prediction"]["static_inits"] == arch["GPT"]["prediction"]["weight_layers"]
    assert arch["BiasMLP"]["prediction"]["static_inits"] == 13


def test_prediction_on_the_models_with_norms(arch):
    """Reported for all; GPT, ViT and ResNet predicted within 2× on every weight layer."""
    for name in ("GPT", "ViT", "ResNet"):
        for r in arch[name]["layers"]:
            if r["weight"] and r["out_std"] > 0:
                assert ratio(r["predicted"], r["out_std"]) <= 2.0, (name, r["name"])


def test_static_init_mismatch_is_reported(arch):
    """ConvNeXt's stem conv gets its trunc_normal_(0.02) from a `self.modules()` loop the static
    analysis does not trace to it: the probe says where the analysis and the built weight
    disagree, instead of predicting from the wrong init silently."""
    mm = arch["ConvNeXt"]["init_mismatch"]
    assert [m["param"] for m in mm] == ["features.0.0.weight"]
    assert mm[0]["static"] == "PyTorch default" and 0.015 < mm[0]["built_std"] < 0.025


def test_text_report_shows_prediction_and_user_loss_subprocess():
    r = run_cli("probe", f"{A}:GPT", f"{A}:TwoInputs", "--device", "cpu", "--no-static",
                "--inputs", f"{A}:two_inputs_batch", "--batch-size", "4",
                cwd=ROOT, env={"PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "1"})
    out, err = r.stdout.decode(), r.stderr.decode()
    # --inputs applies to every target: GPT cannot take an image and a vector
    assert r.returncode == 2, err
    assert "GPT" in err and "forward pass failed" in err and "Traceback" not in err
    assert "initlint probe tests.probe_models.arch:TwoInputs" in out
    assert "predicted" in out and "prediction: 5 of 5 predicted" in out
    r = run_cli("probe", f"{A}:GPT", "--loss", f"{A}:gpt_loss", "--device", "cpu",
                "--no-static", "--output-format", "json", "--batch-size", "4", cwd=ROOT,
                env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr.decode()
    obj = json.loads(r.stdout)
    assert obj["loss"] == pytest.approx(math.log(128), rel=0.05)  # cross-entropy at init
    assert all(x["grad_std"] > 0 for x in obj["layers"] if x["weight"])


def test_lsuv_leaves_layers_a_norm_rescales():
    r = probe(f"{A}:GPT", f"{A}:DictInput", "--lsuv", "--inputs", f"{A}:dict_batch",
              "--output-format", "json", "--no-static", "--path", ROOT, "--device", "cpu",
              "--batch-size", "4")
    objs = json.loads(r.stdout)
    d = objs[1]
    assert d["ok"] and {x["name"] for x in d["lsuv"]["layers"]} == {"emb", "proj", "fc1", "fc2"}
    assert all(x["converged"] for x in d["lsuv"]["layers"])


def test_bad_inputs_function_is_one_clear_error(tmp_path):
    (tmp_path / "badinputs.py").write_text(
        "def returns_int(batch_size):\n    return 3\n\n"
        "def raises(batch_size):\n    raise RuntimeError('no data here')\n")
    r = probe(f"{A}:TwoInputs", "--inputs", "badinputs:returns_int", "--path", str(tmp_path),
              "--device", "cpu", "--output-format", "json")
    assert r.exit_code == 2
    e = json.loads(r.stdout)["error"]
    assert e["stage"] == "input" and "returned a int" in e["message"]
    r = probe(f"{A}:TwoInputs", "--inputs", "badinputs:raises", "--path", str(tmp_path),
              "--device", "cpu")
    assert r.exit_code == 2 and "raised RuntimeError: no data here" in r.stderr
    assert "badinputs.py" in r.stderr and "Traceback" not in r.stderr
    r = probe(f"{A}:TwoInputs", "--inputs", "not a spec")
    assert r.exit_code == 2 and "expected MODULE:FUNCTION" in r.stderr


# ---------------------------------------------------------------------------- containment

def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_timeout_kills_new_sessions_and_double_forked_daemons(tmp_path):
    pids = tmp_path / "pids"
    (tmp_path / "pyproject.toml").write_text(f"""
[tool.initlint.probe]
path = {json.dumps(ROOT)}
timeout = 3
targets = [{{ target = "tests.probe_models.broken:escapes", kwargs = {{ pid_file = {json.dumps(str(pids))} }} }}]
""")
    r = run_cli("probe", "--output-format", "json", "--no-static", cwd=str(tmp_path))
    assert r.returncode == 2, r.stderr.decode()
    e = json.loads(r.stdout)["error"]
    assert e["stage"] == "timeout"
    found = [int(x) for x in pids.read_text().split()]
    assert len(found) == 2
    assert e["context"]["killed_descendants"] >= 2
    assert "processes it started were killed" in e["hint"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in found):
        time.sleep(0.05)
    assert not [p for p in found if _alive(p)], "a process escaped the time limit"


def test_default_memory_budget_protects_a_shared_machine():
    from initlint.probe import runner

    mb = runner.default_memory_mb()
    avail = runner._available_mb()
    assert runner.MEMORY_FLOOR_MB <= mb <= runner.MEMORY_CAP_MB == 4096
    if avail is not None and avail * runner.MEMORY_SHARE >= runner.MEMORY_FLOOR_MB:
        assert mb <= avail * runner.MEMORY_SHARE


# ---------------------------------------------------------------------------- Hugging Face

def test_bert_and_gpt2_from_config():
    pytest.importorskip("transformers")
    bert = json.dumps({"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "intermediate_size": 64, "vocab_size": 100,
                       "max_position_embeddings": 32})
    r = probe("transformers:BertModel", "--kwargs", bert, "--output-format", "json",
              "--no-static", "--device", "cpu", "--batch-size", "4")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert obj["verdicts"] == [] and "config.vocab_size" in obj["input_note"]
    assert "attention mask" in obj["input_note"]
    gpt2 = json.dumps({"n_embd": 32, "n_layer": 2, "n_head": 2, "vocab_size": 100,
                       "n_positions": 32})
    r = probe("transformers:GPT2Model", "--kwargs", gpt2, "--output-format", "json",
              "--no-static", "--device", "cpu", "--batch-size", "4")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert obj["verdicts"] == []
    # Conv1D (torch.addmm), a causal mask given to scaled_dot_product_attention, the key/value
    # cache's torch.cat: every weight layer predicted within 2×
    check = obj["prediction"]
    assert check["predicted"] == check["weight_layers"] == check["within_2x"] == 10
