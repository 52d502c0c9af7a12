"""Property-based tests (hypothesis) over generated model classes.

A small grammar builds PyTorch modules: Conv2d then Linear layers with sizes, activations
(ReLU, Tanh, GELU, SELU, LeakyReLU; as a module or functional), and inits (Xavier, Kaiming,
normal, zeros, orthogonal or PyTorch's default) in several spellings, wired in a forward
chain. Properties:

- linting never raises and never reports an internal error;
- findings do not depend on names (class and attribute names, neutral ones) nor on layout
  (blank lines, spacing, line breaks in calls, comments, `;`-joined statements, parentheses);
- findings do not depend on how `torch.nn.init` is spelled (`nn.init.f`, `torch.nn.init.f`,
  `init.f`, `from torch.nn.init import f as g`);
- `--fix --unsafe-fixes` always leaves a file that parses, and that lints again cleanly of
  internal errors.

Examples are derandomized (the same on every run, so CI is reproducible); set
INITLINT_HYPOTHESIS_RANDOM=1 to explore new ones, INITLINT_HYPOTHESIS_EXAMPLES=N for more.
"""

from __future__ import annotations

import ast
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from initlint import engine
from initlint.cli import main
from initlint.config import Config

EXAMPLES = int(os.environ.get("INITLINT_HYPOTHESIS_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    derandomize=not os.environ.get("INITLINT_HYPOTHESIS_RANDOM"),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def config() -> Config:
    cfg = Config()
    cfg.select = ["ALL"]  # opt-in rules too
    cfg.show_info = True
    return cfg


# ---------------------------------------------------------------- the grammar
ACTS = ["relu", "tanh", "gelu", "selu", "leaky", None]
INITS = ["default", "xavier_uniform", "xavier_normal", "xavier_relu_gain", "kaiming_normal",
         "kaiming_uniform", "kaiming_sqrt5", "normal_unit", "normal_small", "normal_002",
         "zeros", "orthogonal"]


@dataclass
class Layer:
    kind: str  # "conv" | "linear"
    fan_in: int
    fan_out: int
    kernel: int
    act: str | None
    act_style: str  # "module" | "functional"
    init: str
    nonlinearity: str  # for kaiming
    bias_zero: bool


@dataclass
class Model:
    layers: list[Layer]
    # where the inits are: "layer" (one call per layer), "loop" (`for m in self.modules()`
    # with isinstance filters), "layer+loop" (specific, then general: overwritten),
    # "loop+layer" (general, then specific: the right order)
    init_mode: str


@dataclass
class Style:
    blank: int = 0  # blank lines after each statement
    pad: bool = False  # spaces inside call parentheses and around `=` of keywords
    break_args: bool = False  # one argument per line in init calls
    comments: bool = False
    semicolons: bool = False  # layer and activation constructions on one line
    parens: bool = False  # redundant parentheses around forward expressions
    spelling: str = "nn"  # nn | torch | init | alias


@st.composite
def models(draw):
    n_conv = draw(st.integers(0, 2))
    n_lin = draw(st.integers(1, 6))
    sizes = draw(st.lists(st.sampled_from([3, 8, 16, 32, 64, 128]), min_size=n_conv + n_lin + 1,
                          max_size=n_conv + n_lin + 1))
    layers = []
    for i in range(n_conv + n_lin):
        kind = "conv" if i < n_conv else "linear"
        layers.append(Layer(
            kind=kind, fan_in=sizes[i], fan_out=sizes[i + 1],
            kernel=draw(st.sampled_from([1, 3, 5])),
            act=draw(st.sampled_from(ACTS)),
            act_style=draw(st.sampled_from(["module", "functional"])),
            init=draw(st.sampled_from(INITS)),
            nonlinearity=draw(st.sampled_from(["relu", "leaky_relu", "tanh", "linear", "selu"])),
            bias_zero=draw(st.booleans())))
    return Model(layers, init_mode=draw(st.sampled_from(["layer", "loop", "layer+loop",
                                                          "loop+layer"])))


NEUTRAL = "bcdfgkmpqvwxz"  # consonants only: no name reads as `head`, `norm`, `out`, `proj`


@st.composite
def names(draw, n: int):
    """A class name and n layer / n activation attribute names, distinct and neutral."""
    word = st.text(NEUTRAL, min_size=1, max_size=6)
    picked = draw(st.lists(word, min_size=2 * n + 1, max_size=2 * n + 1, unique=True))
    return {"cls": "Q" + picked[0], "layers": ["l" + w for w in picked[1:n + 1]],
            "acts": ["a" + w for w in picked[n + 1:]]}


def default_names(n: int) -> dict:
    return {"cls": "Net", "layers": [f"fc{i}" for i in range(n)],
            "acts": [f"act{i}" for i in range(n)]}


styles = st.builds(Style, blank=st.integers(0, 2), pad=st.booleans(), break_args=st.booleans(),
                   comments=st.booleans(), semicolons=st.booleans(), parens=st.booleans(),
                   spelling=st.sampled_from(["nn", "torch", "init", "alias"]))

HEADER = [
    "import math",
    "import torch",
    "import torch.nn as nn",
    "import torch.nn.functional as F",
    "from torch.nn import init",
    "from torch.nn.init import kaiming_normal_ as kn_, xavier_uniform_ as xu_, zeros_ as z_",
    "",
    "",
]
ALIASES = {"kaiming_normal_": "kn_", "xavier_uniform_": "xu_", "zeros_": "z_"}


def _call(func: str, args: list[str], style: Style, indent: str) -> str:
    prefix = {"nn": "nn.init.", "torch": "torch.nn.init.", "init": "init.", "alias": "nn.init."}
    name = ALIASES.get(func, None) if style.spelling == "alias" else None
    name = name or prefix[style.spelling] + func
    if style.pad:
        args = [a.replace("=", " = ", 1) if "=" in a and "(" not in a.split("=")[0] else a
                for a in args]
    if style.break_args:
        inner = "".join(f"\n{indent}    {a}," for a in args)
        return f"{name}({inner}\n{indent})"
    sep = " , " if style.pad else ", "
    return f"{name}({' ' if style.pad else ''}{sep.join(args)}{' ' if style.pad else ''})"


def _init_call(layer: Layer, target: str, style: Style, indent: str) -> str | None:
    w = target
    nl = layer.nonlinearity
    table = {
        "default": None,
        "xavier_uniform": ("xavier_uniform_", [w]),
        "xavier_normal": ("xavier_normal_", [w]),
        "xavier_relu_gain": ("xavier_uniform_", [w, "gain=nn.init.calculate_gain('relu')"]),
        "kaiming_normal": ("kaiming_normal_", [w, f"nonlinearity='{nl}'"]),
        "kaiming_uniform": ("kaiming_uniform_", [w, "mode='fan_in'", f"nonlinearity='{nl}'"]),
        "kaiming_sqrt5": ("kaiming_uniform_", [w, "a=math.sqrt(5)"]),
        "normal_unit": ("normal_", [w]),
        "normal_small": ("normal_", [w, "0", "0.01"]),
        "normal_002": ("normal_", [w, "std=0.02"]),
        "zeros": ("zeros_", [w]),
        "orthogonal": ("orthogonal_", [w]),
    }
    entry = table[layer.init]
    if entry is None:
        return None
    return _call(entry[0], entry[1], style, indent)


ACT_MODULE = {"relu": "nn.ReLU()", "tanh": "nn.Tanh()", "gelu": "nn.GELU()",
              "selu": "nn.SELU()", "leaky": "nn.LeakyReLU(0.2)"}
ACT_FUNC = {"relu": "F.relu({})", "tanh": "torch.tanh({})", "gelu": "F.gelu({})",
            "selu": "F.selu({})", "leaky": "F.leaky_relu({}, 0.2)"}


def render(model: Model, nm: dict, style: Style) -> str:
    out = list(HEADER)
    ind2, ind3 = " " * 8, " " * 12

    def emit(stmts: list[str], indent: str) -> None:
        for s in stmts:
            c = "  # a comment (with parens) and: colons" if style.comments else ""
            out.append(indent + s + c)
            out.extend([""] * style.blank)

    out.append(f"class {nm['cls']}(nn.Module):")
    if style.comments:
        out.append('    """Docstring with `nn.init.zeros_(w)` in it."""')
    out.append("    def __init__(self):")
    init_stmts = ["super().__init__()"]
    for i, layer in enumerate(model.layers):
        name = nm["layers"][i]
        pad = " " if style.pad else ""
        if layer.kind == "conv":
            ctor = f"nn.Conv2d({pad}{layer.fan_in}, {layer.fan_out}, {layer.kernel}, padding={layer.kernel // 2}{pad})"
        else:
            ctor = f"nn.Linear({pad}{layer.fan_in}, {layer.fan_out}{pad})"
        stmt = f"self.{name} = {ctor}"
        if layer.act and layer.act_style == "module":
            act_stmt = f"self.{nm['acts'][i]} = {ACT_MODULE[layer.act]}"
            if style.semicolons:
                stmt += "; " + act_stmt
                init_stmts.append(stmt)
            else:
                init_stmts += [stmt, act_stmt]
        else:
            init_stmts.append(stmt)
    emit(init_stmts, ind2)
    def loops():
        # one loop per layer kind the model uses, filtered by the layer's class
        seen = []
        for layer in model.layers:
            key = (layer.kind, layer.init, layer.nonlinearity, layer.bias_zero)
            if layer.init == "default" or any(k[:1] == key[:1] for k in seen):
                continue
            seen.append(key)
            cls = "nn.Conv2d" if layer.kind == "conv" else "nn.Linear"
            out.append(f"{ind2}for m in self.modules():")
            out.append(f"{ind3}if isinstance(m, {cls}):")
            call = _init_call(layer, "m.weight", style, ind3 + "    ")
            emit([call] + ([_call("zeros_", ["m.bias"], style, ind3 + "    ")]
                           if layer.bias_zero else []), ind3 + "    ")

    def per_layer():
        stmts = []
        for i, layer in enumerate(model.layers):
            call = _init_call(layer, f"self.{nm['layers'][i]}.weight", style, ind2)
            if call:
                stmts.append(call)
            if layer.bias_zero:
                stmts.append(_call("zeros_", [f"self.{nm['layers'][i]}.bias"], style, ind2))
        emit(stmts, ind2)

    for part in model.init_mode.split("+"):
        if part == "loop":
            loops()
        else:
            per_layer()
    out.append("")
    out.append("    def forward(self, x):")
    fwd = []
    for i, layer in enumerate(model.layers):
        if i > 0 and layer.kind == "linear" and model.layers[i - 1].kind == "conv":
            fwd.append("x = x.flatten(1)")
        expr = f"self.{nm['layers'][i]}(x)"
        if layer.act:
            expr = (f"self.{nm['acts'][i]}({expr})" if layer.act_style == "module"
                    else ACT_FUNC[layer.act].format(expr))
        fwd.append(f"x = ({expr})" if style.parens else f"x = {expr}")
    fwd.append("return x")
    emit(fwd, ind2)
    return "\n".join(out) + "\n"


def lint_text(text: str, name: str = "model.py"):
    res = engine.analyze_file(os.path.join(tempfile.gettempdir(), "initlint-nonexistent", name),
                              name, text.encode("utf-8"))
    assert res.error is None, (res.error.message, text)
    report = engine.finish([res], config())
    assert report.internal_errors == [], report.internal_errors
    return report.findings


def sig(findings, rows=True):
    return Counter((f.code, f.severity, f.row) if rows else (f.code, f.severity)
                   for f in findings)


# ---------------------------------------------------------------- properties
def test_the_grammar_reaches_the_rules():
    """A sanity check that the generator can produce findings at all (else every property
    below would hold vacuously)."""
    lay = [Layer("linear", 64, 64, 1, "relu", "module", "xavier_uniform", "relu", False),
           Layer("linear", 64, 64, 1, "relu", "functional", "normal_unit", "relu", True),
           Layer("linear", 64, 10, 1, None, "module", "zeros", "relu", False)]
    codes = {f.code for f in lint_text(render(Model(lay, "layer"), default_names(3), Style()))}
    assert {"IL101", "IL202"} <= codes


@SETTINGS
@given(model=models(), style=styles)
def test_never_crashes(model, style):
    text = render(model, default_names(len(model.layers)), style)
    ast.parse(text)  # the generator writes valid Python
    lint_text(text)


@SETTINGS
@given(data=st.data(), model=models(), style=styles)
def test_findings_do_not_depend_on_names(data, model, style):
    n = len(model.layers)
    base = lint_text(render(model, default_names(n), style))
    other = lint_text(render(model, data.draw(names(n)), style))
    assert sig(base) == sig(other)


@SETTINGS
@given(model=models(), a=styles, b=styles)
def test_findings_do_not_depend_on_layout(model, a, b):
    b = replace(b, spelling=a.spelling)
    nm = default_names(len(model.layers))
    assert sig(lint_text(render(model, nm, a)), rows=False) == \
        sig(lint_text(render(model, nm, b)), rows=False)


@SETTINGS
@given(model=models(), style=styles, spelling=st.sampled_from(["nn", "torch", "init", "alias"]))
def test_findings_do_not_depend_on_the_init_spelling(model, style, spelling):
    nm = default_names(len(model.layers))
    assert sig(lint_text(render(model, nm, style))) == \
        sig(lint_text(render(model, nm, replace(style, spelling=spelling))))


@settings(SETTINGS, max_examples=max(10, EXAMPLES // 2))
@given(model=models(), style=styles)
def test_unsafe_fix_output_always_parses(model, style):
    text = render(model, default_names(len(model.layers)), style)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.py")
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        before = lint_text(text)
        res = CliRunner().invoke(main, [path, "--fix", "--unsafe-fixes", "--no-cache",
                                        "--select", "ALL", "--output-format", "json"])
        assert res.exit_code in (0, 1), (res.output, res.exception)
        assert "internal error" not in res.stderr
        with open(path, encoding="utf-8") as fh:
            fixed = fh.read()
        try:
            ast.parse(fixed)
        except SyntaxError as exc:  # pragma: no cover - the failure message
            pytest.fail(f"--fix --unsafe-fixes broke the file: {exc}\n--- before\n{text}"
                        f"\n--- after\n{fixed}")
        after = lint_text(fixed)
        remaining = json.loads(res.stdout) if res.stdout.strip() else []
        # the findings it reports after fixing are those a fresh lint finds
        assert Counter(f["code"] for f in remaining if f["severity"] != "info") == \
            Counter(f.code for f in after if f.severity != "info")
        if not before:
            assert fixed == text, "--fix changed a file with no findings"
