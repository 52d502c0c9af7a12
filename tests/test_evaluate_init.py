"""The evaluator on init: apply, module/parameter iteration with full names, filters
evaluated per concrete module or parameter, tensor-method writes, HF post_init, and the
precision root causes (values computed, not guessed)."""

import math
import textwrap

from initlint.evaluate import MAY, Unknown, build_class

from test_evaluate_build import HEAD, build, last


def params(m):
    return dict(m.named_parameters())


NET = """
class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)

class Net(nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.blocks = nn.ModuleList([Block(d) for _ in range(2)])
        self.head = nn.Linear(d, 10)
        self.conv = nn.Conv2d(3, d, 3)
        self.init()
"""


def net(init_body):
    return build(NET + textwrap.indent(textwrap.dedent(init_body), "    "))


def test_apply_runs_children_first():
    m = build("""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Sequential(nn.Linear(2, 2))
            self.b = nn.Linear(2, 2)
            self.seen = []
            self.apply(self._log)

        def _log(self, m):
            self.seen.append(m)
    """)
    order = [m.children.get(k) for k in ("a", "b")]
    seen = m.attrs["seen"]
    assert seen[0] is m.children["a"].children["0"] and seen[1] is order[0]
    assert seen[2] is order[1] and seen[-1] is m


def test_named_parameters_full_dotted_names_and_name_filters():
    m = net("""
    def init(self):
        for name, p in self.named_parameters():
            if "qkv" in name:
                nn.init.xavier_uniform_(p)
            elif name.endswith("proj.weight"):
                nn.init.zeros_(p)
            elif name.startswith("head") and p.dim() > 1:
                nn.init.normal_(p, std=0.01)
    """)
    ps = params(m)
    assert last(m, "blocks.1.qkv.weight").kind == "xavier"
    assert last(m, "blocks.1.qkv.bias").kind == "xavier"  # the filter says so: name only
    assert last(m, "blocks.0.proj.weight").kind == "zero"
    assert last(m, "blocks.0.proj.bias").kind == "default"
    assert last(m, "head.weight").params["std"] == 0.01
    assert last(m, "head.bias").kind == "default"  # dim() == 1
    assert "blocks.0.norm.weight" in ps


def test_modules_loop_isinstance_tuple_and_type_equality_and_identity():
    m = net("""
    def init(self):
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m is not self.head:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif type(m) == nn.LayerNorm:
                m.weight.data.fill_(0.5)
            if m is self.head:
                nn.init.zeros_(m.weight)
    """)
    assert last(m, "conv.weight").params["mode"] == "fan_out"
    assert last(m, "blocks.1.qkv.weight").kind == "kaiming"
    assert last(m, "head.weight").kind == "zero"
    assert last(m, "blocks.0.norm.weight").params["val"] == 0.5


def test_classname_find_and_nested_if_elif_else_via_apply():
    m = net("""
    def init(self):
        def weights_init(m):
            classname = m.__class__.__name__
            if classname.find("Conv") != -1:
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif classname.find("Linear") != -1:
                if m.out_features == 10:
                    nn.init.zeros_(m.weight)
                else:
                    nn.init.xavier_normal(m.weight)  # deprecated spelling
        self.apply(weights_init)
    """)
    assert last(m, "conv.weight").params["std"] == 0.02
    assert last(m, "head.weight").kind == "zero"
    w = last(m, "blocks.0.proj.weight")
    assert (w.kind, w.func, w.via) == ("xavier", "torch.nn.init.xavier_normal",
                                       "apply(weights_init)")


def test_iterating_a_container_directly_nested_loops_and_children():
    m = net("""
    def init(self):
        for blk in self.blocks:
            for name, child in blk.named_children():
                if name == "proj":
                    nn.init.zeros_(child.weight)
        for c in self.children():
            if isinstance(c, nn.Conv2d):
                nn.init.dirac_(c.weight)
    """)
    assert last(m, "blocks.1.proj.weight").kind == "zero"
    assert last(m, "blocks.1.qkv.weight").kind == "default"
    assert last(m, "conv.weight").kind == "dirac"


def test_no_grad_data_and_tensor_methods_including_rescale():
    m = net("""
    @torch.no_grad()
    def init(self):
        b = 1 / math.sqrt(8)
        with torch.no_grad():
            self.head.weight.data.uniform_(-b, b)
            self.head.weight *= 0.5
            self.head.bias.zero_()
            self.conv.weight.normal_(0, 0.1)
            self.conv.bias.copy_(torch.zeros(8))
    """)
    hw = params(m)["head.weight"].writes
    assert (hw[-2].kind, hw[-2].params["b"]) == ("uniform", 1 / math.sqrt(8))
    assert (hw[-1].kind, hw[-1].params["factor"]) == ("rescale", 0.5)
    assert last(m, "head.bias").kind == "zero"
    assert last(m, "conv.weight").params["std"] == 0.1
    assert last(m, "conv.bias").kind == "zero"  # copy_ of a zeros tensor


def test_hf_post_init_runs_init_weights_over_every_module_including_batchnorm():
    base = HEAD + textwrap.dedent("""
    from transformers import PreTrainedModel

    class MyPreTrainedModel(PreTrainedModel):
        def _init_weights(self, module):
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.BatchNorm2d)):
                module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
                if module.bias is not None:
                    module.bias.data.zero_()

    class MyModel(MyPreTrainedModel):
        def __init__(self, config):
            super().__init__()
            self.config = config
            self.conv = nn.Conv2d(3, 8, 1)
            self.bn = nn.BatchNorm2d(8)
            self.post_init()
    """)
    _, res = build_class({"modeling_my.py": base}, "MyModel")
    bn = dict(res.module.named_parameters())["bn.weight"].final
    assert (bn.kind, bn.via) == ("normal", "post_init()")
    assert isinstance(bn.params["std"], Unknown)  # read from the config: never judged


def test_write_behind_unknown_condition_is_may():
    m = net("""
    def init(self, zero_head=None):
        if self.training:
            nn.init.zeros_(self.head.weight)
    """)
    hw = params(m)["head.weight"]
    assert hw.writes[-1].certainty == MAY and hw.final.kind == "default"


def test_unresolvable_submodule_makes_module_loops_unknown_not_empty():
    m = build("""
    from somewhere_else import make_block

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = make_block()
            self.head = nn.Linear(2, 2)
            self.n = len(list(self.modules()))
    """)
    assert isinstance(m.attrs["n"], Unknown) and m.unknowns


# ---------------------------------------------------------------- precision root causes

def test_tensor_of_a_list_is_data_not_uninitialised_memory():
    m = build("""
    class Net(nn.Module):
        def __init__(self, mix_factor=0.5):
            super().__init__()
            self.mix = nn.Parameter(torch.Tensor([mix_factor]))
            self.raw = nn.Parameter(torch.Tensor(4, 4))
    """)
    assert last(m, "mix").kind == "data"
    assert last(m, "raw").kind == "empty"


def test_fourier_features_fan_in_one_even_when_d_is_unknown():
    m = build("""
    class Net(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.freq = nn.Parameter(torch.randn(d // 2, 1))
            self.w = nn.Parameter(torch.randn(6, 32, 16) * 0.02)
    """)
    f = params(m)["freq"]
    assert f.fans()[0] == 1 and f.final.params["std"] == 1.0
    w = params(m)["w"]
    assert w.fans() == (16, 32) and math.isclose(w.final.params["std"], 0.02)


def test_moduledict_of_dict_call_is_not_empty():
    m = build("""
    class GPT(nn.Module):
        def __init__(self, n_layer=2):
            super().__init__()
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(100, 16),
                h=nn.ModuleList([nn.Linear(16, 16) for _ in range(n_layer)]),
            ))
    """, "GPT")
    assert set(m.children["transformer"].children) == {"wte", "h"}
    assert params(m)["transformer.h.1.weight"].shape == (16, 16)


def test_partial_keyword_activation_is_what_the_partial_binds():
    m = build("""
    class SqueezeExcitation(nn.Module):
        def __init__(self, c, scale_activation=nn.Sigmoid):
            super().__init__()
            self.fc = nn.Conv2d(c, c, 1)
            self.scale_activation = scale_activation()

    class Net(nn.Module):
        def __init__(self, se_layer=partial(SqueezeExcitation, scale_activation=nn.Hardsigmoid)):
            super().__init__()
            self.se = se_layer(16)
    """)
    assert m.children["se"].children["scale_activation"].act == "hardsigmoid"


def test_block_passed_as_partial_imported_from_another_file_is_evaluated():
    blocks = HEAD + textwrap.dedent("""
    class SwinBlock(nn.Module):
        def __init__(self, dim, heads=2):
            super().__init__()
            self.attn = nn.Linear(dim, dim * 3)
            nn.init.trunc_normal_(self.attn.weight, std=0.02)
    """)
    m = build("""
    from blocks import SwinBlock

    class Video(nn.Module):
        def __init__(self, block=partial(SwinBlock, heads=4), depth=2):
            super().__init__()
            self.layers = nn.ModuleList([block(32) for _ in range(depth)])
            self.apply(self._init)

        def _init(self, m):
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
    """, "Video", files={"blocks.py": blocks})
    ws = params(m)["layers.1.attn.weight"].writes
    assert [w.kind for w in ws] == ["default", "normal", "xavier"]  # the 0.02 is dead
