"""The fixed fixtures are real PyTorch code: every model in every case.out file still builds
(with torch, on CPU), and the fixes do at run time what they say."""

import inspect
import json
import os

import pytest

from conftest import ROOT

torch = pytest.importorskip("torch")  # the `probe` extra; installed in the dev environment
nn = torch.nn

FIXES = os.path.join(ROOT, "tests", "fix_cases")


def _source(name: str) -> str:
    d = os.path.join(FIXES, name)
    if os.path.exists(os.path.join(d, "case.out.py")):
        with open(os.path.join(d, "case.out.py"), encoding="utf-8") as fh:
            return fh.read()
    with open(os.path.join(d, "case.out.ipynb"), encoding="utf-8") as fh:
        nb = json.load(fh)
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            src = cell["source"]
            src = "".join(src) if isinstance(src, list) else src
            cells.append("\n".join("" if ln.startswith("%") else ln for ln in src.splitlines()))
    return "\n".join(cells)


def _models(name: str) -> dict:
    namespace: dict = {"__name__": f"fixture_{name}"}
    exec(compile(_source(name), f"{name}/case.out", "exec"), namespace)  # noqa: S102
    out = {}
    for obj in list(namespace.values()):
        if isinstance(obj, type) and issubclass(obj, nn.Module) and obj.__module__ == \
                namespace["__name__"]:
            params = [p for p in inspect.signature(obj.__init__).parameters.values()
                      if p.name != "self" and p.default is inspect.Parameter.empty]
            torch.manual_seed(0)
            out[obj.__name__] = obj(*[8] * len(params))
        elif inspect.isfunction(obj) and obj.__module__ == namespace["__name__"]:
            layer = nn.Linear(8, 8)  # an init function for `module.apply`
            layer.apply(obj)
            out[obj.__name__] = layer
    return out


NAMES = sorted(os.listdir(FIXES))


@pytest.mark.parametrize("name", NAMES)
def test_fixed_models_build(name):
    models = _models(name)
    assert models, f"{name}: no model class or init function"


def test_fixes_take_effect_at_run_time():
    block = _models("il301_basic_block")["BasicBlock"]
    assert torch.count_nonzero(block.bn2.weight) == 0  # zero-init of the residual branch's BN
    assert torch.count_nonzero(block.bn1.weight) == 8
    assert torch.count_nonzero(_models("il301_init_alias")["Bottleneck"].bn3.weight) == 0

    fc = _models("il101_nn_init")["MLP"].fc1.weight  # He uniform: std = sqrt(2 / fan_in)
    assert abs(fc.std().item() / (2 / 256) ** 0.5 - 1) < 0.05

    snn = _models("il104_sequential_layer")["SNN"].net[0].weight  # LeCun: std = sqrt(1/fan_in)
    assert abs(snn.std().item() / (1 / 64) ** 0.5 - 1) < 0.1

    w = _models("il202_randn_matmul")["Bilinear"].W  # randn(d_in, d_out) * d_in ** -0.5
    assert abs(w.std().item() / 128 ** -0.5 - 1) < 0.1
    w = _models("il202_randn_linear")["MyLinear"].weight  # randn(out, in) * in ** -0.5
    assert abs(w.std().item() / 8 ** -0.5 - 1) < 0.3

    u = _models("il205_function")["Net"].fc.weight  # uniform_(-0.1, 0.1), no longer N(-0.1, .1)
    assert u.min().item() >= -0.1 and u.max().item() <= 0.1
    lin = _models("il205_tensor_method")["_linear_bounds_init"]  # the tensor-method spelling
    assert lin.weight.abs().max().item() <= 0.05 and lin.bias.abs().max().item() <= 0.01
