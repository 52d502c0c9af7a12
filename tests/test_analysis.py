"""Model understanding on realistic idioms (issue 3): wiring, init spellings, order, reach."""

import json
import textwrap

from click.testing import CliRunner

from initlint.cli import main

H = "import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def run(tmp_path, files: dict, *args):
    for name, src in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if src.startswith(H):
            src = H + textwrap.dedent(src[len(H):])
        p.write_text(textwrap.dedent(src))
    r = CliRunner().invoke(main, [str(tmp_path), "--output-format", "json", "--no-cache",
                                  "--show-info", *args])
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.stdout)


def codes(found, severity=None):
    return sorted(f["code"] for f in found if severity is None or f["severity"] == severity)


def graph(tmp_path, name, cls):
    r = CliRunner().invoke(main, ["graph", f"{tmp_path / name}::{cls}", "--format", "json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)[0]


# ---------------------------------------------------------------- wiring
def test_sequential_from_loop_grown_list_is_a_chain(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        class MLP(nn.Module):
            def __init__(self, width=128, depth=3):
                super().__init__()
                layers = []
                for _ in range(depth):
                    layers.append(nn.Linear(width, width))
                    layers.append(nn.ReLU(inplace=True))
                layers.append(nn.Linear(width, 10))
                self.net = nn.Sequential(*layers)
                for m in self.modules():
                    if isinstance(m, nn.Linear):
                        nn.init.xavier_uniform_(m.weight)

            def forward(self, x):
                return self.net(x)
        """})
    # three square Xavier layers joined by ReLUs: ≤ 1/4 of He's variance -> error
    assert codes(found) == ["IL101"]
    assert found[0]["severity"] == "error"


def test_ordered_dict_and_add_module(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        from collections import OrderedDict

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(OrderedDict([
                    ("fc", nn.Linear(64, 64)),
                    ("act", nn.Tanh()),
                ]))
                self.add_module("head", nn.Linear(64, 2))
                nn.init.kaiming_normal_(self.body.fc.weight, nonlinearity="relu")

            def forward(self, x):
                return self.head(self.body(x))
        """})
    assert codes(found) == ["IL102"]


def test_modulelist_loop_with_last_layer_special_case(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        class MLPHead(nn.Module):
            def __init__(self, dims=(64, 64, 64, 4)):
                super().__init__()
                self.num_layers = len(dims) - 1
                self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
                for layer in self.layers:
                    nn.init.zeros_(layer.weight)

            def forward(self, x):
                for i, layer in enumerate(self.layers):
                    x = F.relu(layer(x)) if i < self.num_layers - 1 else layer(x)
                return x
        """})
    assert "IL201" in codes(found, "error")


def test_helper_factory_and_block_in_another_file(tmp_path):
    found = run(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/layers.py": H + """
            def conv3x3(cin, cout, stride=1):
                return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)

            class Block(nn.Module):
                def __init__(self, c):
                    super().__init__()
                    self.conv1 = conv3x3(c, c)
                    self.conv2 = conv3x3(c, c)

                def forward(self, x):
                    return self.conv2(F.relu(self.conv1(x)))
            """,
        "pkg/model.py": H + """
            from .layers import Block

            def init_weights(m):
                if isinstance(m, nn.Conv2d):
                    nn.init.xavier_normal_(m.weight)

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.blocks = nn.Sequential(Block(64), Block(64))
                    self.apply(init_weights)

                def forward(self, x):
                    return self.blocks(x)
            """})
    il101 = [f for f in found if f["code"] == "IL101"]
    assert il101 and il101[0]["filename"].endswith("model.py")
    assert any("conv1" in r["message"] for r in il101[0]["related"])


def test_sequential_subclass_with_super_init(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        class ConvAct(nn.Sequential):
            def __init__(self, cin, cout):
                super().__init__(nn.Conv2d(cin, cout, 3), nn.SELU())
        """})
    assert codes(found) == ["IL104"]


def test_activation_spellings(tmp_path):
    src = H + """
        class Net(nn.Module):
            def __init__(self, act_layer=nn.ReLU):
                super().__init__()
                self.a = nn.Linear(32, 32)
                self.b = nn.Linear(32, 32)
                self.c = nn.Linear(32, 32)
                self.d = nn.Linear(32, 32)
                self.act = act_layer(inplace=True)
                for lin in [self.a, self.b, self.c, self.d]:
                    nn.init.kaiming_uniform_(lin.weight, a=math.sqrt(5))

            def forward(self, x):
                x = self.act(self.a(x))
                x = self.b(x).relu()
                x = F.leaky_relu(self.c(x), 0.2)
                return torch.relu(self.d(x))
        """
    found = run(tmp_path, {"m.py": src})
    # one init call shared by four layers: one finding, every layer and activation related
    assert codes(found) == ["IL103"]
    related = " ".join(r["message"] for r in found[0]["related"])
    for layer in ("`a`", "`b`", "`c`", "`d`"):
        assert layer in related
    assert "LeakyReLU(0.2)" in related and "ReLU" in related


def test_runtime_activation_is_not_an_error(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        from transformers.activations import ACT2FN

        class MLP(nn.Module):
            def __init__(self, config):
                super().__init__()
                self.fc = nn.Linear(64, 64)
                self.act = ACT2FN[config.hidden_act]
                nn.init.xavier_uniform_(self.fc.weight)

            def forward(self, x):
                return self.act(self.fc(x))
        """})
    assert not codes(found, "error") and not codes(found, "warning")


def test_gated_mlp_only_gate_feeds_the_activation(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        class GatedMLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.gate_proj = nn.Linear(64, 256)
                self.up_proj = nn.Linear(64, 256)
                self.down_proj = nn.Linear(256, 64)
                nn.init.kaiming_normal_(self.up_proj.weight, nonlinearity="tanh")

            def forward(self, x):
                return self.down_proj(torch.sigmoid(self.gate_proj(x)) * self.up_proj(x))
        """})
    assert codes(found) == []


def test_overloaded_forward_uses_the_last_definition(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        from typing import overload

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(64, 64)
                nn.init.xavier_uniform_(self.fc.weight)

            @overload
            def forward(self, x: torch.Tensor) -> torch.Tensor: ...

            def forward(self, x):
                return torch.tanh(self.fc(x))
        """})
    assert codes(found) == []


def test_preactivation_and_residual_add(tmp_path):
    g_src = H + """
        class PreAct(nn.Module):
            def __init__(self, c=64):
                super().__init__()
                self.norm1 = nn.BatchNorm2d(c)
                self.conv1 = nn.Conv2d(c, c, 3, padding=1)
                self.relu = nn.ReLU()

            def forward(self, x):
                out = self.conv1(self.relu(self.norm1(x)))
                return x + out
        """
    run(tmp_path, {"m.py": g_src})
    g = graph(tmp_path, "m.py", "PreAct")
    assert g["residual_adds"]
    conv = next(layer for layer in g["layers"] if layer["path"] == "conv1")
    assert conv["feeds"] == ["add"]


# ---------------------------------------------------------------- init spellings and order
def test_init_spellings_resolve_to_one_name(tmp_path):
    found = run(tmp_path, {"m.py": """
        import torch
        import torch.nn as nn
        import torch.nn.init as I
        from torch.nn import init
        from torch.nn.init import xavier_uniform_ as xu

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(64, 64)
                self.b = nn.Linear(64, 64)
                self.c = nn.Linear(64, 64)
                self.d = nn.Linear(64, 64)
                self.e = nn.Linear(64, 10)
                torch.nn.init.xavier_uniform_(self.a.weight)
                I.xavier_uniform_(self.b.weight)
                init.xavier_uniform_(self.c.weight)
                xu(self.d.weight)

            def forward(self, x):
                x = torch.relu(self.a(x))
                x = torch.relu(self.b(x))
                x = torch.relu(self.c(x))
                x = torch.relu(self.d(x))
                return self.e(x)
        """})
    assert codes(found) == ["IL101"] * 4
    assert {f["severity"] for f in found} == {"error"}


def test_tensor_method_inits_under_no_grad(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(512, 512)
                self.fc2 = nn.Linear(512, 512)
                self.out = nn.Linear(512, 10)
                with torch.no_grad():
                    self.fc1.weight.data.normal_()
                    self.fc2.weight.fill_(0.5)

            def forward(self, x):
                return self.out(F.relu(self.fc2(F.relu(self.fc1(x)))))
        """})
    assert codes(found) == ["IL201", "IL202"]


def test_classname_string_matching_and_apply(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        def weights_init(m):
            classname = m.__class__.__name__
            if classname.find('Conv') != -1:
                nn.init.normal_(m.weight.data, -0.02, 0.02)

        class D(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 64, 4)
                self.apply(weights_init)

            def forward(self, x):
                return F.leaky_relu(self.conv(x), 0.2)
        """})
    assert "IL205" in codes(found, "error")


def test_named_parameters_endswith_filter_reaches_nested(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.c_fc = nn.Linear(64, 256)
                self.c_proj = nn.Linear(256, 64)

            def forward(self, x):
                return x + self.c_proj(F.gelu(self.c_fc(x)))

        class GPT(nn.Module):
            def __init__(self, n_layer=4):
                super().__init__()
                self.h = nn.ModuleList([Block() for _ in range(n_layer)])
                for pn, p in self.named_parameters():
                    if pn.endswith('c_proj.weight'):
                        nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))
        """})
    assert "IL404" not in codes(found)


def test_general_then_specific_is_fine_but_reverse_is_dead(tmp_path):
    good = run(tmp_path, {"good.py": H + """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 8)
                self.head = nn.Linear(8, 2)
                for m in self.modules():
                    if isinstance(m, nn.Linear):
                        nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(self.head.weight)
        """})
    assert "IL402" not in codes(good)


def test_conditional_zero_gamma_counts_as_offered(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        class Bottleneck(nn.Module):
            def __init__(self, c=64):
                super().__init__()
                self.conv1 = nn.Conv2d(c, c, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(c)
                self.conv3 = nn.Conv2d(c, c, 1, bias=False)
                self.bn3 = nn.BatchNorm2d(c)
                self.relu = nn.ReLU(inplace=True)

            def forward(self, x):
                identity = x
                out = self.relu(self.bn1(self.conv1(x)))
                out = self.bn3(self.conv3(out))
                out += identity
                return self.relu(out)

        class ResNet(nn.Module):
            def __init__(self, zero_init_residual=False):
                super().__init__()
                self.layer1 = nn.Sequential(Bottleneck(), Bottleneck())
                for m in self.modules():
                    if isinstance(m, nn.Conv2d):
                        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if zero_init_residual:
                    for m in self.modules():
                        if isinstance(m, Bottleneck) and m.bn3.weight is not None:
                            nn.init.constant_(m.bn3.weight, 0)
        """})
    assert codes(found) == []


def test_reset_parameters_called_from_init_and_gain_expression(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        class MyLinear(nn.Module):
            def __init__(self, n=64, m=64):
                super().__init__()
                self.weight = nn.Parameter(torch.empty(m, n))
                self.reset_parameters()

            def reset_parameters(self):
                gain = nn.init.calculate_gain("leaky_relu", 0.2)
                nn.init.xavier_uniform_(self.weight, gain=gain)

            def forward(self, x):
                return F.leaky_relu(F.linear(x, self.weight), 0.2)
        """})
    assert codes(found) == []


def test_std_expression_is_evaluated(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        class Head(nn.Module):
            def __init__(self, dim=768):
                super().__init__()
                self.pre_logits = nn.Linear(dim, dim)
                self.act = nn.Tanh()
                fan_in = self.pre_logits.in_features
                nn.init.trunc_normal_(self.pre_logits.weight, std=math.sqrt(1 / fan_in))

            def forward(self, x):
                return self.act(self.pre_logits(x))
        """})
    assert codes(found) == []


def test_init_in_forward_and_never_applied(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 8)

            def _init_weights(self, m):
                if isinstance(m, nn.Linear):
                    nn.init.kaiming_normal_(m.weight)

            def forward(self, x):
                nn.init.zeros_(self.fc.bias)
                return self.fc(x)
        """})
    assert codes(found) == ["IL401", "IL403"]


def test_hf_post_init_applies_init_weights(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        from transformers import PreTrainedModel

        class MyPreTrainedModel(PreTrainedModel):
            def _init_weights(self, module):
                if isinstance(module, nn.Linear):
                    module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)

        class MyModel(MyPreTrainedModel):
            def __init__(self, config):
                super().__init__(config)
                self.dense = nn.Linear(64, 64)
                self.dense.weight.data.normal_(0, 1)
                self.post_init()
        """})
    # the N(0,1) in __init__ is overwritten by _init_weights at post_init(): dead, not unscaled
    assert codes(found) == ["IL402"]


def test_depthwise_default_args_fan_in(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        class Net(nn.Module):
            def __init__(self, c=256):
                super().__init__()
                self.dw = nn.Conv2d(c, c, 3, groups=c)
                self.pw = nn.Conv2d(c, c, 1)
                nn.init.normal_(self.dw.weight, std=0.5)

            def forward(self, x):
                return self.pw(F.relu(self.dw(x)))
        """})
    # depthwise fan_in = 9: std 0.5 -> gain 1.5, right for ReLU; a dense conv would be 24x
    assert codes(found) == []


def test_reset_parameters_of_another_class_does_not_hide_a_dead_one(tmp_path):
    found = run(tmp_path, {"m.py": H + """
        class A(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = nn.Parameter(torch.empty(8, 8))

            def reset_parameters(self):
                nn.init.kaiming_uniform_(self.w, nonlinearity="relu")

        class B(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = nn.Parameter(torch.empty(8, 8))
                self.reset_parameters()

            def reset_parameters(self):
                nn.init.kaiming_uniform_(self.w, nonlinearity="relu")
        """})
    il401 = [f for f in found if f["code"] == "IL401"]
    assert len(il401) == 1 and "`A.reset_parameters`" in il401[0]["message"]


def test_graph_command_text_and_dot(tmp_path):
    (tmp_path / "m.py").write_text(H + textwrap.dedent("""
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)
                nn.init.xavier_uniform_(self.fc.weight)

            def forward(self, x):
                return F.relu(self.fc(x))
        """))
    r = CliRunner().invoke(main, ["graph", str(tmp_path / "m.py")])
    assert r.exit_code == 0
    assert "fc" in r.stdout and "xavier_uniform_" in r.stdout and "layer:fc -> act:relu" in r.stdout
    r = CliRunner().invoke(main, ["graph", f"{tmp_path / 'm.py'}::Net", "--format", "dot"])
    assert r.exit_code == 0 and r.stdout.startswith("digraph") and "->" in r.stdout
    r = CliRunner().invoke(main, ["graph", f"{tmp_path / 'm.py'}::Nope"])
    assert r.exit_code == 2 and "no model class" in r.output


def test_context_supplies_cross_file_facts_without_reporting_them(tmp_path):
    (tmp_path / "model.py").write_text(H + textwrap.dedent("""
        def init_weights(m):
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 8)
        """))
    (tmp_path / "train.py").write_text(textwrap.dedent("""
        import torch.nn as nn
        from model import Net, init_weights
        model = Net()
        model.apply(init_weights)
        """))
    (tmp_path / "broken.py").write_text("def f(:\n")
    alone = CliRunner().invoke(main, [str(tmp_path / "model.py"), "--output-format", "json"])
    assert [f["code"] for f in json.loads(alone.stdout)] == ["IL401"]
    with_ctx = CliRunner().invoke(main, [str(tmp_path / "model.py"), "--context", str(tmp_path),
                                         "--output-format", "json"])
    assert with_ctx.exit_code == 0 and json.loads(with_ctx.stdout) == []  # no IL001 for broken.py


def test_apply_from_a_training_script_reaches_the_model(tmp_path):
    found = run(tmp_path, {
        "model.py": H + """
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(128, 128)
                    self.fc2 = nn.Linear(128, 128)
                    self.fc3 = nn.Linear(128, 10)

                def forward(self, x):
                    return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))
            """,
        "train.py": H + """
            from model import Net

            def init_fn(m):
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)

            def main():
                model = Net()
                model.apply(init_fn)
            """})
    il101 = [f for f in found if f["code"] == "IL101"]
    assert il101 and il101[0]["filename"].endswith("train.py")


def test_activation_default_overridden_by_a_caller_is_not_certain(tmp_path):
    src = H + """
        class MLP(nn.Module):
            def __init__(self, dim, hidden, activation_layer=nn.ReLU):
                super().__init__()
                self.fc1 = nn.Linear(dim, hidden)
                self.act = activation_layer()
                self.fc2 = nn.Linear(hidden, dim)
                for m in self.modules():
                    if isinstance(m, nn.Linear):
                        nn.init.xavier_uniform_(m.weight)

            def forward(self, x):
                return self.fc2(self.act(self.fc1(x)))
        """
    assert codes(run(tmp_path, {"mlp.py": src})) == ["IL101"]
    caller = H + """
        from mlp import MLP

        class Block(nn.Module):
            def __init__(self, dim=96):
                super().__init__()
                self.mlp = MLP(dim, 4 * dim, activation_layer=nn.GELU)
        """
    assert "IL101" not in codes(run(tmp_path, {"mlp.py": src, "block.py": caller}))
