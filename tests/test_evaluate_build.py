"""The evaluator on what a class builds: values, statements, calls, module-level scripts.
Each test is one idiom of the model-understanding issue, written from its text."""

import math
import textwrap

from initlint.evaluate import CERTAIN, MAY, ModuleV, build_class, run_script

HEAD = "import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n" \
       "from functools import partial\n"


def build(body, name="Net", *args, files=None, **kwargs):
    src = HEAD + textwrap.dedent(body)
    sources = {"model.py": src, **(files or {})}
    ev, res = build_class(sources, name, "model.py", *args, **kwargs)
    assert res.error is None, res.error
    return res.module


def kinds(m):
    return {n: c.kind.rsplit(".", 1)[-1] for n, c in m.named_modules() if n}


def last(m, pname):
    return dict(m.named_parameters())[pname].writes[-1]


def test_constant_propagation_gain_and_bound():
    m = build("""
    class Net(nn.Module):
        def __init__(self, fan_in=64):
            super().__init__()
            self.fc = nn.Linear(fan_in, 32)
            gain = nn.init.calculate_gain("relu")
            nn.init.xavier_uniform_(self.fc.weight, gain=gain)
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(self.fc.bias, -bound, bound)
    """)
    assert last(m, "fc.weight").params["gain"] == math.sqrt(2)
    b = last(m, "fc.bias")
    assert (b.kind, b.params["a"], b.params["b"]) == ("uniform", -1 / 8, 1 / 8)
    assert dict(m.named_parameters())["fc.weight"].shape == (32, 64)


def test_if_known_condition_takes_one_branch_unknown_takes_both_as_may():
    m = build("""
    class Net(nn.Module):
        def __init__(self, config, act="relu"):
            super().__init__()
            if act == "relu":
                self.act = nn.ReLU()
            else:
                self.act = nn.GELU()
            self.fc = nn.Linear(4, 4)
            nn.init.zeros_(self.fc.bias)
            if config.zero_init:
                nn.init.ones_(self.fc.bias)
    """)
    assert kinds(m)["act"] == "ReLU"
    bias = dict(m.named_parameters())["fc.bias"]
    assert [w.certainty for w in bias.writes] == [CERTAIN, CERTAIN, MAY]
    assert bias.final.kind == "zero"  # the "may" write does not replace the certain one


def test_for_over_range_unrolled_and_beyond_budget_summarised():
    m = build("""
    class Net(nn.Module):
        def __init__(self, depth=3, config=None):
            super().__init__()
            self.blocks = nn.ModuleList()
            for i in range(depth):
                self.blocks.append(nn.Linear(2 ** i, 2 ** (i + 1)))
            self.many = nn.ModuleList([nn.Linear(4, 4) for _ in range(1000)])
    """)
    assert [dict(m.named_parameters())[f"blocks.{i}.weight"].shape for i in range(3)] == \
        [(2, 1), (4, 2), (8, 4)]
    many = m.children["many"]
    assert len(many.children) == 1 and many.children["0"].repeated


def test_while_loop_and_comprehensions_with_enumerate_zip_reversed():
    m = build("""
    class Net(nn.Module):
        def __init__(self, dims=(3, 8, 16)):
            super().__init__()
            layers, i = [], 0
            while i < len(dims) - 1:
                layers.append(nn.Linear(dims[i], dims[i + 1]))
                i += 1
            self.seq = nn.Sequential(*layers)
            self.heads = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, dims[1:]))
            self.rev = nn.ModuleList([nn.Conv2d(c, c, 3) for _, c in enumerate(reversed(dims))])
    """)
    assert dict(m.named_parameters())["seq.1.weight"].shape == (16, 8)
    assert dict(m.named_parameters())["heads.0.weight"].shape == (8, 3)
    assert dict(m.named_parameters())["rev.0.weight"].shape == (16, 16, 3, 3)


def test_append_extend_insert_and_plus_equals_on_lists():
    m = build("""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            mods = [nn.Linear(1, 1)]
            mods.extend([nn.ReLU(), nn.Linear(1, 2)])
            mods.insert(0, nn.Identity())
            mods += [nn.Tanh()]
            self.body = nn.Sequential(*mods)
    """)
    assert [c.kind.rsplit(".", 1)[-1] for c in m.children["body"].children.values()] == \
        ["Identity", "Linear", "ReLU", "Linear", "Tanh"]


def test_star_args_kwargs_and_fstring_setattr_and_getattr_on_nn():
    m = build("""
    def make(*dims, act="ReLU", **kw):
        return nn.Sequential(nn.Linear(*dims, **kw), getattr(nn, act)())

    class Net(nn.Module):
        def __init__(self, n=2):
            super().__init__()
            for i in range(n):
                setattr(self, f"layer{i}", make(4, 8, act="GELU", bias=False))
    """)
    assert kinds(m) == {"layer0": "Sequential", "layer0.0": "Linear", "layer0.1": "GELU",
                        "layer1": "Sequential", "layer1.0": "Linear", "layer1.1": "GELU"}
    assert "layer0.0.bias" not in dict(m.named_parameters())


def test_dict_lookup_with_known_key_from_literal_default():
    m = build("""
    ACTS = {"relu": nn.ReLU, "silu": nn.SiLU}

    class Net(nn.Module):
        def __init__(self, act="silu"):
            super().__init__()
            self.act = ACTS[act]()
    """)
    assert m.children["act"].act == "silu"


def test_helpers_factories_and_make_layer_are_inlined():
    m = build("""
    def layer_init(layer, std=math.sqrt(2), bias_const=0.0):
        nn.init.orthogonal_(layer.weight, std)
        nn.init.constant_(layer.bias, bias_const)
        return layer

    def conv3x3(cin, cout, stride=1):
        return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.pi = layer_init(nn.Linear(64, 4), std=0.01)
            self.layer1 = self._make_layer(16, 2)

        def _make_layer(self, planes, blocks):
            return nn.Sequential(*[conv3x3(planes, planes) for _ in range(blocks)])
    """)
    w = last(m, "pi.weight")
    assert (w.kind, w.params["gain"]) == ("orthogonal", 0.01)
    assert dict(m.named_parameters())["layer1.1.weight"].shape == (16, 16, 3, 3)


def test_sequential_subclass_super_init_and_custom_layer_default_init():
    m = build("""
    class ConvBN(nn.Sequential):
        def __init__(self, c):
            super().__init__(nn.Conv2d(c, c, 3), nn.BatchNorm2d(c))

    class MyLinear(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(d, d))

        def reset_parameters(self):
            nn.init.kaiming_uniform_(self.weight)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = ConvBN(8)
            self.custom = MyLinear(4)
    """)
    assert kinds(m)["stem.1"] == "BatchNorm2d"
    assert last(m, "stem.0.weight").kind == "default"  # built-in: reset_parameters runs
    assert last(m, "stem.1.weight").kind == "constant"
    assert last(m, "custom.weight").kind == "empty"  # custom: reset_parameters not called


def test_recursion_stops_at_the_depth_budget():
    m = build("""
    def deep(n):
        return deep(n + 1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.x = deep(0)
    """)
    assert kinds(m) == {"fc": "Linear"}


def test_module_level_script_builds_and_applies():
    src = HEAD + textwrap.dedent("""
    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            nn.init.normal_(m.weight.data, 0.0, 0.02)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            self.fc = nn.Linear(8, 2)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
    net = Net().to(device)
    net.apply(weights_init)
    """)
    _, models = run_script({"train.py": src})
    assert isinstance(models["model"], ModuleV) and kinds(models["model"]) == {
        "0": "Linear", "1": "Tanh"}
    w = dict(models["net"].named_parameters())
    assert w["conv.weight"].final.kind == "normal" and w["conv.weight"].final.params["std"] == 0.02
    assert w["conv.weight"].final.via == "apply(weights_init)"
    assert w["fc.weight"].final.kind == "default"


def test_compact_form_pickles_and_each_class_records_the_files_it_read(tmp_path):
    import pickle

    from initlint.evaluate import Interpreter, Project, SourceFile

    files = {
        "pkg/blocks.py": HEAD + "class Block(nn.Module):\n    def __init__(self, d):\n"
                         "        super().__init__()\n        self.fc = nn.Linear(d, d)\n",
        "pkg/other.py": HEAD + "class Other(nn.Module):\n    pass\n",
        "pkg/net.py": HEAD + "from pkg.blocks import Block\n\nclass Net(nn.Module):\n"
                      "    def __init__(self):\n        super().__init__()\n"
                      "        self.b = Block(4)\n",
    }
    forms = [pickle.loads(pickle.dumps(SourceFile.parse(p, t, p[:-3].replace("/", "."))))
             for p, t in files.items()]
    project = Project(forms)
    ev = Interpreter(project)
    res = ev.build(project.lookup_global(project.by_path["pkg/net.py"], "Net"))
    assert dict(res.module.named_parameters())["b.fc.weight"].shape == (4, 4)
    assert res.deps == {"pkg/net.py", "pkg/blocks.py"}  # not other.py: its edits don't matter


def test_class_chosen_at_run_time_is_a_runtime_activation_or_its_one_kind():
    m = build("""
    class Swish(nn.Module):
        def forward(self, x):
            return x * torch.sigmoid(x)

    _has_silu = "silu" in dir(torch.nn.functional)
    ACT = nn.SiLU if _has_silu else nn.GELU

    class Net(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.act = ACT()
            norm = nn.LayerNorm if config.flag else nn.LayerNorm
            self.norm = norm(4)
            conv = nn.utils.weight_norm
            if hasattr(nn.utils.parametrizations, "weight_norm"):
                conv = nn.utils.parametrizations.weight_norm
            self.conv = conv(nn.Conv1d(4, 4, 3))
    """)
    assert m.children["act"].kind == "?act"
    assert kinds(m)["norm"] == "LayerNorm" and not m.children["norm"].may
    assert kinds(m)["conv"] == "Conv1d"


def test_function_bodies_are_parsed_on_first_run_with_their_real_line_numbers(monkeypatch):
    from initlint.evaluate import SourceFile, sources

    text = HEAD + textwrap.dedent("""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.reset()

        def reset(self):
            s = '''
    a string at column 0'''
            nn.init.zeros_(self.fc.weight)

        def never_run(self): return 1
    """)
    form = SourceFile.parse("model.py", text, "model")
    methods = {f.name: f for f in form.defs["Net"].body if hasattr(f, "args")}
    assert methods["reset"].body is None and methods["never_run"].body is not None
    row = next(i for i, line in enumerate(text.splitlines(), 1) if "zeros_" in line)
    monkeypatch.setattr(sources, "BODY_CACHE", 1)  # every body parsed again when next run
    for _ in range(2):
        m = build(text[len(HEAD):])
        w = dict(m.named_parameters())["fc.weight"].final
        assert (w.kind, w.loc[1]) == ("zero", row)


def test_a_project_module_imported_as_a_name_resolves_its_attributes():
    blocks = HEAD + "class ConvAct(nn.Sequential):\n    def __init__(self, c):\n" \
                    "        super().__init__(nn.Conv2d(c, c, 3), nn.ReLU())\n"
    m = build("""
    from pkg import blocks as misc

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = misc.ConvAct(8)
    """, files={"pkg/__init__.py": "from .blocks import *\n", "pkg/blocks.py": blocks})
    assert kinds(m) == {"stem": "ConvAct", "stem.0": "Conv2d", "stem.1": "ReLU"}


def test_a_package_binding_wins_over_its_submodule_of_the_same_name():
    make = HEAD + "def create_conv(c):\n    return nn.Conv2d(c, c, 3)\n"
    m = build("""
    from pkg import create_conv

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = create_conv(4)
    """, files={"pkg/__init__.py": "from .create_conv import create_conv\n",
                "pkg/create_conv.py": make})
    assert kinds(m) == {"conv": "Conv2d"}


def test_framework_base_is_a_builtin_also_when_its_package_is_vendored():
    """`PreTrainedModel` under `third_party.transformers.modeling_utils` is the framework's
    base as much as under `transformers.modeling_utils`: its machinery builds nothing, its
    `_init_weights` hook still runs."""
    base = HEAD + textwrap.dedent("""
    class PreTrainedModel(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.machinery = nn.Linear(1, 1)  # framework internals, not the user's model

        def post_init(self):
            pass
    """)
    for pkg in ("transformers", "third_party.transformers"):
        m = build(f"""
        from {pkg}.modeling_utils import PreTrainedModel

        class Net(PreTrainedModel):
            def __init__(self, config):
                super().__init__(config)
                self.fc = nn.Linear(4, 4)
                self.post_init()

            def _init_weights(self, module):
                if isinstance(module, nn.Linear):
                    nn.init.zeros_(module.weight)
        """, files={pkg.replace(".", "/") + "/modeling_utils.py": base,
                    pkg.replace(".", "/") + "/__init__.py": ""})
        assert kinds(m) == {"fc": "Linear"}, pkg
        assert last(m, "fc.weight").kind == "zero", pkg
