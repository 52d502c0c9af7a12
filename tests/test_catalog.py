"""Bug shapes from real initialization bug reports (the catalog issue), each written the way
real code writes it, with the fixed version beside it where a fixed version exists."""

import pytest

H = "import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def of(found, code, shown_only=True):
    return [f for f in found if f["code"] == code and
            (not shown_only or f["severity"] in ("error", "warning"))]


def row_of(src, text):
    return src.splitlines().index(text) + 1


# ------------------------------------------------------------------------- dead inits

WORD_LM = H + '''
class RNNModel(nn.Module):
    def __init__(self, ntoken=100, ninp=32, nhid=32):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid)
        self.decoder = nn.Linear(nhid, ntoken)
        self.init_weights()

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.{ZERO})
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, x):
        out, _ = self.rnn(self.encoder(x))
        return self.decoder(out)
'''


def test_init_overwritten_on_the_same_tensor(lint):
    src = WORD_LM.replace("{ZERO}", "weight")
    found = of(lint(src), "IL402")
    assert [f["location"]["row"] for f in found] == [
        row_of(src, "        nn.init.zeros_(self.decoder.weight)")]
    assert "did you mean `decoder.bias`" in found[0]["message"]
    assert of(lint(WORD_LM.replace("{ZERO}", "bias")), "IL402") == []


def test_pix2pix_style_init_weights_never_called(lint):
    src = H + '''
def init_weights(net, init_type="normal", init_gain=0.02):
    def init_func(m):
        classname = m.__class__.__name__
        if hasattr(m, "weight") and (classname.find("Conv") != -1 or classname.find("Linear") != -1):
            nn.init.normal_(m.weight.data, 0.0, init_gain)
    net.apply(init_func)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return torch.tanh(self.conv(x))


def define_G():
    net = Generator()
    {CALL}
    return net
'''
    dead = of(lint(src.replace("{CALL}", "pass")), "IL401")
    assert [f["location"]["row"] for f in dead] == [row_of(src, "def init_weights(net, init_type=\"normal\", init_gain=0.02):")]
    assert of(lint(src.replace("{CALL}", "init_weights(net)")), "IL401") == []


def test_helper_whose_only_caller_is_dead(lint):
    src = H + '''
def _xavier(m):
    nn.init.xavier_uniform_(m.weight)


def init_all(model):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            _xavier(m)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc(x)
'''
    found = of(lint(src), "IL401")
    assert sorted(f["location"]["row"] for f in found) == [row_of(src, "def _xavier(m):"),
                                                          row_of(src, "def init_all(model):")]
    assert any("`init_all`" in f["message"] for f in found)
    live = src + "\nmodel = Net()\ninit_all(model)\n"
    assert of(lint(live), "IL401") == []


def test_subclass_that_never_calls_the_inherited_init(lint):
    src = H + '''
class Base(nn.Module):
    def weight_init(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")


class Good(Base):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        self.weight_init()

    def forward(self, x):
        return F.relu(self.fc(x))


class Forgot(Base):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)

    def forward(self, x):
        return F.relu(self.fc(x))
'''
    found = of(lint(src), "IL401")
    assert [f["location"]["row"] for f in found] == [row_of(src, "class Forgot(Base):")]
    assert "`Good`" in found[0]["message"]


def test_staticmethod_applied_and_enumerate_loop_are_seen(lint):
    src = H + '''
class Static(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 64)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class Enum(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 64)
        for i, m in enumerate(self.modules()):
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))
'''
    found = of(lint(src), "IL101")
    assert sorted(f["location"]["row"] for f in found) == sorted([
        row_of(src, "            nn.init.xavier_uniform_(m.weight)"),
        row_of(src, "                nn.init.xavier_uniform_(m.weight)")])


# ------------------------------------------------------------------------- new rules

@pytest.mark.parametrize("spelling", [
    'nn.init.kaiming_normal_(self.conv.weight, a=nn.init.calculate_gain("leaky_relu", 0.2))',
    'gain = nn.init.calculate_gain("leaky_relu", 0.2)\n        '
    'nn.init.kaiming_normal_(self.conv.weight, a=gain)',
])
def test_slope_given_a_gain(lint, spelling):
    src = H + f'''
class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        {spelling}

    def forward(self, x):
        return F.leaky_relu(self.conv(x), 0.2)
'''
    found = of(lint(src), "IL105")
    assert [f["severity"] for f in found] == ["error"]
    assert "0.36× the variance" in found[0]["message"]
    fixed = src.replace(spelling.split("\n")[-1].strip(),
                        'nn.init.kaiming_normal_(self.conv.weight, a=0.2, nonlinearity="leaky_relu")')
    assert of(lint(fixed), "IL105") == []


def test_init_that_clobbers_a_pretrained_backbone(lint):
    src = H + '''
import torchvision
import timm


class Seg(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = {BACKBONE}
        self.head = nn.Conv2d(2048, 21, 1)
        {APPLY}

    def _init(self, m):
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x):
        return self.head(self.backbone(x))
'''
    for backbone in ('torchvision.models.resnet50(weights="IMAGENET1K_V2")',
                     'torchvision.models.resnet50(pretrained=True)',
                     'timm.create_model("resnet50", pretrained=True)'):
        bad = src.replace("{BACKBONE}", backbone).replace("{APPLY}", "self.apply(self._init)")
        found = of(lint(bad), "IL405")
        assert [f["severity"] for f in found] == ["error"], backbone
        assert found[0]["location"]["row"] == row_of(bad, "        self.apply(self._init)")
        good = bad.replace("self.apply(self._init)", "self.head.apply(self._init)")
        assert of(lint(good), "IL405") == []
    scratch = src.replace("{BACKBONE}", "torchvision.models.resnet50(weights=None)").replace(
        "{APPLY}", "self.apply(self._init)")
    assert of(lint(scratch), "IL405") == []


def test_norm_scale_drawn_at_random(lint):
    src = H + '''
class PreTrained(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.bn = nn.BatchNorm2d(16)
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Conv2d{BN})):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))
'''
    bad = src.replace("{BN}", ", nn.BatchNorm2d")
    found = of(lint(bad), "IL206")
    assert [f["location"]["row"] for f in found] == [
        row_of(bad, "        if isinstance(module, (nn.Linear, nn.Conv2d, nn.BatchNorm2d)):")]
    assert of(lint(src.replace("{BN}", "")), "IL206") == []


def test_large_bias_before_relu_kills_units(lint):
    torch = pytest.importorskip("torch")
    src = H + '''
class Net(nn.Module):
    def __init__(self, m=4):
        super().__init__()
        self.fc = nn.Linear(m, 256)
        self.out = nn.Linear(256, 1)
        nn.init.normal_(self.fc.bias, 0, {STD})

    def forward(self, x):
        return self.out(F.relu(self.fc(x)))
'''
    bad = src.replace("{STD}", "(1 / m) ** 0.5")
    found = of(lint(bad), "IL207")
    assert len(found) == 1
    claimed = float(found[0]["message"].split("about ")[1].split("%")[0]) / 100
    # the measurement: units that fire for fewer than one input in six
    ns: dict = {}
    exec(compile(bad, "m.py", "exec"), ns)
    torch.manual_seed(0)
    net = ns["Net"]()
    with torch.no_grad():
        act = (net.fc(torch.randn(4096, 4)) > 0).float().mean(0)
    rarely = (act < 1 / 6).float().mean().item()
    assert claimed / 2 <= rarely <= claimed * 2 + 0.02, (claimed, rarely)
    assert of(lint(src.replace("{STD}", "0.01")), "IL207") == []


def test_fused_gate_orthogonal_is_opt_in_info(lint):
    src = H + '''
class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(32, 64)
        for name, p in self.lstm.named_parameters():
            if "weight_hh" in name:
                nn.init.orthogonal_(p)

    def forward(self, x):
        return self.lstm(x)[0]
'''
    assert of(lint(src, "--show-info"), "IL304", shown_only=False) == []  # opt-in
    found = of(lint(src, "--select", "IL304"), "IL304", shown_only=False)
    assert [f["severity"] for f in found] == ["info"]


def test_override_set_on_a_module_the_filter_never_selects(lint):
    """torchvision's InceptionAux: `self.conv1.stddev = 0.01` on a BasicConv2d wrapper, while
    the model's loop reads `m.stddev` only from nn.Conv2d/nn.Linear modules."""
    import os

    from conftest import ROOT

    with open(os.path.join(ROOT, "tests", "data", "inception_stddev.py"), encoding="utf-8") as fh:
        src = fh.read()
    found = of(lint(src), "IL404")
    assert [f["location"]["row"] for f in found] == [row_of(src, "        self.conv1.stddev = 0.01")]
    assert "`BasicConv2d`" in found[0]["message"]
    # fc is a Linear: the loop selects it, its stddev is read
    fixed = src.replace("self.conv1.stddev = 0.01", "self.conv1.conv.stddev = 0.01")
    assert of(lint(fixed), "IL404") == []


def test_slice_overwrite_after_a_forget_bias_set(lint):
    src = H + '''
class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(32, 64)
        for name, param in self.lstm.named_parameters():
            if "bias" in name:
                n = param.size(0)
                param.data[n // 4:n // 2].fill_(1.0)
                param.data[{REST}].fill_(0.0)

    def forward(self, x):
        return self.lstm(x)[0]
'''
    bad = src.replace("{REST}", "n // 4:")
    found = of(lint(bad), "IL402")
    assert [f["location"]["row"] for f in found] == [
        row_of(bad, "                param.data[n // 4:n // 2].fill_(1.0)")]
    assert of(lint(src.replace("{REST}", "n // 2:")), "IL402") == []
    # a whole-tensor write after the slice kills it too
    whole = src.replace("param.data[{REST}].fill_(0.0)", "nn.init.zeros_(param)")
    assert len(of(lint(whole), "IL402")) == 1


def test_init_after_load_state_dict_clobbers_it(lint):
    src = H + '''
class Finetune(nn.Module):
    def __init__(self, ckpt):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
        self.head = nn.Linear(64, 2)
        {FIRST}
        {SECOND}

    def _init(self, m):
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)

    def forward(self, x):
        return self.head(self.encoder(x))
'''
    load = "self.encoder.load_state_dict(torch.load(ckpt))"
    bad = src.replace("{FIRST}", load).replace("{SECOND}", "self.apply(self._init)")
    found = of(lint(bad), "IL405")
    assert [f["location"]["row"] for f in found] == [row_of(bad, "        self.apply(self._init)")]
    good = src.replace("{FIRST}", "self.apply(self._init)").replace("{SECOND}", load)
    assert of(lint(good), "IL405") == []
