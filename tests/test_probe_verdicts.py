"""The probe's verdict rules, report helpers and target parsing on hand-made measurements
(pure Python: no torch, no child process)."""

import math
import os

import pytest

from initlint.probe import report, verdicts
from initlint.probe.cli import UsageError, parse_shape, parse_target


def layer(name, std, *, weight=True, type_="Linear", relu=False, zf=0.0, in_std=None,
          in_zf=None, call=1, mean=0.0, grad=1e-3):
    return {"name": name, "type": type_, "call": call, "weight": weight, "relu": relu,
            "out_mean": mean, "out_std": std, "zero_fraction": zf, "in_std": in_std,
            "in_zero_fraction": in_zf, "saturated_fraction": None,
            "grad_std": grad if weight else None}


def chain(stds):
    rows = []
    for k, s in enumerate(stds):
        rows.append(layer(f"l{k}", s))
        if k < len(stds) - 1:
            rows.append(layer(f"a{k}", s * 0.58, weight=False, type_="ReLU", relu=True, zf=0.5))
    return {"layers": rows, "params": [], "output": {}}


def kinds(data, threshold=4.0):
    return [v["kind"] for v in verdicts.compute(data, threshold)]


def test_vanishing_and_exploding_against_the_threshold():
    assert kinds(chain([1.0, 0.5, 0.3, 0.2, 1.0])) == ["vanishing"]  # 0.2 < 1/4 (head left out)
    assert kinds(chain([1.0, 0.5, 0.3, 0.26, 1.0])) == []
    assert kinds(chain([1.0, 2.0, 3.0, 4.5, 1.0])) == ["exploding"]
    assert kinds(chain([1.0, 2.0, 3.0, 3.9, 1.0])) == []
    # the threshold is configurable
    assert kinds(chain([1.0, 2.0, 3.0, 3.9, 1.0]), threshold=3) == ["exploding"]
    assert kinds(chain([1.0, 0.5, 0.3, 0.2, 1.0]), threshold=10) == []


def test_output_head_is_left_out_but_two_layers_compare_directly():
    # a zero-initialized or tiny head is deliberate: with ≥ 3 weight layers it is not compared
    assert kinds(chain([1.0, 0.9, 0.8, 1e-4])) == []
    v = verdicts.compute(chain([1.0, 0.9, 0.1, 1e-4]))
    assert v[0]["kind"] == "vanishing" and v[0]["layer"] == "l2" and "`l3` is left out" in v[0]["message"]
    # with two weight layers there is no hidden layer to compare with: first vs last
    assert kinds(chain([1.0, 0.1])) == ["vanishing"]


def test_zero_signal():
    assert kinds(chain([0.0, 0.0, 0.0, 1.0])) == ["vanishing"]


def test_dead_relu_module_and_functional_relu():
    data = chain([1.0, 1.0, 1.0])
    data["layers"][1]["zero_fraction"] = 0.85
    v = verdicts.compute(data)
    assert [(x["kind"], x["layer"]) for x in v] == [("dead", "a0")] and "85%" in v[0]["message"]
    # torch.relu in forward: seen only as zeros at the input of the next weight layer
    rows = [layer("l0", 1.0), layer("l1", 1.0, in_zf=0.9), layer("l2", 1.0, in_zf=0.5)]
    v = verdicts.compute({"layers": rows, "params": [], "output": {}})
    assert [(x["kind"], x["layer"]) for x in v] == [("dead", "l1")]
    # ... but not behind a Dropout, whose zeros are expected
    rows = [layer("l0", 1.0), layer("d", 1.0, weight=False, type_="Dropout", zf=0.8),
            layer("l1", 1.0, in_zf=0.8), layer("l2", 1.0)]
    assert kinds({"layers": rows, "params": [], "output": {}}) == []


def param(module, *, rows_identical=True, zero=False, unit_rows=True, mtype="Linear"):
    return {"name": f"{module}.weight", "module": module, "local": "weight", "module_type": mtype,
            "shape": [8, 8], "rows": 8, "unit_rows": unit_rows, "rows_identical": rows_identical,
            "zero_variance": rows_identical, "all_zero": zero, "finite": True, "grad_std": 0.1,
            "grad_finite": True, "std": 0.0, "mean": 0.0 if zero else 0.05}


def test_symmetry_rules():
    base = chain([1.0, 1.0, 1.0, 1.0])
    live = {"batch_std": 0.3, "abs_max": 2.0}
    dead = {"batch_std": 0.0, "abs_max": 2.0}
    # a constant hidden layer: symmetric
    data = dict(base, params=[param("l1")], output=live)
    v = verdicts.compute(data)
    assert [(x["kind"], x["layer"]) for x in v] == [("symmetry", "l1")]
    # the last weight layer (the head) is not hidden
    assert kinds(dict(base, params=[param("l3")], output=live)) == []
    # all zero: deliberate (last layer of a residual branch) unless the output collapses
    assert kinds(dict(base, params=[param("l1", zero=True)], output=live)) == []
    assert kinds(dict(base, params=[param("l1", zero=True)], output=dead)) == ["symmetry"]
    # rows that differ, embeddings, and custom parameters with varying values: no verdict
    assert kinds(dict(base, params=[param("l1", rows_identical=False)], output=live)) == []
    assert kinds(dict(base, params=[param("l1", mtype="Embedding", unit_rows=False)],
                      output=live)) == []


def test_nonfinite_sources():
    data = chain([1.0, float("nan"), float("nan"), 1.0])
    v = verdicts.compute(data)
    assert [(x["kind"], x["layer"]) for x in v] == [("nonfinite", "l1")]
    p = param("l1", rows_identical=False)
    p["finite"] = False
    p["grad_finite"] = False
    v = verdicts.compute(dict(chain([1.0, 1.0, 1.0]), params=[p], output={}))
    assert [x["kind"] for x in v] == ["nonfinite", "nonfinite"]
    assert "contains NaN or Inf at init" in v[0]["message"] and "gradient" in v[1]["message"]


def test_sparkline_and_numbers():
    s = report.sparkline([1.0, 0.1, 0.01, 0.001])
    assert s == "█▆▃▁"
    assert report.sparkline([1.0, 1.01, 0.99]).count("▄") + report.sparkline(
        [1.0, 1.01, 0.99]).count("▅") == 3  # a flat profile stays flat
    assert report.sparkline([1.0, float("nan"), 0.0], uni=False) == "+! "  # one value: mid-height
    assert verdicts.fmt(None) == "—" and verdicts.fmt(0.0) == "0"
    assert verdicts.fmt(1e-5) == "1.00e-05" and verdicts.fmt(0.5) == "0.5"
    assert verdicts.fmt(float("inf")) == "inf" and verdicts.fmt(float("nan")) == "nan"
    assert verdicts.ratio_text(0.25) == "×1/4" and verdicts.ratio_text(8) == "×8"


def test_json_has_no_nan():
    import json

    obj = report._clean({"a": [1.0, float("nan"), {"b": float("inf")}]})
    assert json.loads(json.dumps(obj, allow_nan=False)) == {"a": [1.0, None, {"b": None}]}


def test_parse_shape_and_target(tmp_path):
    assert parse_shape("8,3,224,224", "x") == [8, 3, 224, 224]
    assert parse_shape("8x16", "x") == [8, 16]
    assert parse_shape([2, 5], "x") == [2, 5]
    for bad in ("", "a", "8,-1", [1, True], 3):
        with pytest.raises(UsageError):
            parse_shape(bad, "x")
    assert parse_target("pkg.mod:Factory", ".") == ("pkg.mod", "Factory", None)
    assert parse_target("pkg.mod:Outer.build", ".") == ("pkg.mod", "Outer.build", None)
    pkg = tmp_path / "src" / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "nets.py").write_text("")
    mod, attr, root = parse_target("src/pkg/sub/nets.py:Net", str(tmp_path))
    assert (mod, attr) == ("pkg.sub.nets", "Net") and root == str(tmp_path / "src")
    assert os.path.isdir(root)


def test_error_paragraph_is_one_line_with_hint():
    res = {"ok": False, "stage": "build", "exc_type": "ValueError", "exc_message": "bad width",
           "where": {"file": "m.py", "line": 3, "func": "make", "code": "raise ValueError('bad width')"},
           "hint": "the probe called `m:make` with no arguments (--kwargs)"}
    text = report.error_paragraph(res, "m:make")
    assert "\n" not in text
    assert text == ("m:make: building the model failed: ValueError: bad width (at m.py:3 in make: "
                    "raise ValueError('bad width')). Hint: the probe called `m:make` with no "
                    "arguments (--kwargs).")
    assert math.isfinite(len(text))


def _result():
    rows = chain([0.58, 0.2, 0.05, 0.04])["layers"]
    return {"ok": True, "model_class": "m.Net", "parameters": 1234, "device": "cpu",
            "input_shape": [64, 8], "input_dtype": "float32", "seed": 0,
            "input_note": "inferred from `l0` (Linear, in_features=8)", "layers": rows,
            "params": [], "output": {}, "timings": {"measure_s": 0.01}, "warnings": [],
            "lsuv": {"tolerance": 0.1, "layers": [
                {"name": "l0", "param": "l0.weight", "scale": 1.7, "std_before": 0.58,
                 "std_after": 1.0, "iterations": 1, "converged": True, "note": ""}]}}


def test_text_report_unicode_and_ascii():
    res = _result()
    v = verdicts.compute(res)
    text = report.render_text("m:Net", res, v, None, 4.0, uni=True)
    assert "64×8 float32" in text and "vanishing" in text and "█" in text
    assert "LSUV scale factors" in text and "l0.weight" in text
    assert text.rstrip().endswith("result: 1 problem measured (vanishing)")
    ascii_text = report.render_text("m:Net", res, v, None, 4.0, uni=False)
    ascii_text.encode("ascii")  # nothing outside ASCII
    assert "64x8 float32" in ascii_text and "#" in ascii_text and "vanishing" in ascii_text


def test_unicode_detection():
    class S:
        def __init__(self, enc):
            self.encoding = enc

    assert report.unicode_ok(S("utf-8")) and not report.unicode_ok(S("ascii"))
    assert not report.unicode_ok(S(None)) and not report.unicode_ok(S("no-such-codec"))


def test_weight_layer_input_stats_reuse_the_previous_output_exactly():
    """A weight layer's input statistics are taken from the layer that produced the tensor
    (not read again) only when it is the very same, unmodified tensor: after an in-place
    ReLU, after a view, and after a freed-and-reused address, they equal a direct reading."""
    torch = pytest.importorskip("torch")
    from torch import nn

    from initlint.probe.measure import measure

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(inplace=True), nn.Linear(64, 64),
                          nn.Tanh(), nn.Linear(64, 8))
    x = torch.randn(16, 32)
    seen = {}
    hooks = [m.register_forward_hook(
        lambda mod, inp, out, name=name: seen.__setitem__(name, (
            float(torch.std(inp[0].detach(), correction=0)),
            float((inp[0] == 0).float().mean()))))
        for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    result = measure(model, x, backward=True)
    for h in hooks:
        h.remove()
    rows = {r["name"]: r for r in result["layers"]}
    for name, (std, zeros) in seen.items():
        assert math.isclose(rows[name]["in_std"], std, rel_tol=1e-5), name
        assert math.isclose(rows[name]["in_zero_fraction"], zeros, abs_tol=1e-9), name
    assert rows["2"]["in_zero_fraction"] > 0.3  # the in-place ReLU's zeros, not the Linear's
