"""Deliberate, well-known inits must stay silent (not even `info`): DiT adaLN-Zero, ReZero
(`torch.Tensor([0])`), Fixup (He scaled by depth), LoRA B = 0, ControlNet zero convs, zero-init
heads, DCGAN's normal_(0, 0.02) with BN gamma ~ N(1, 0.02), Non-local W = 0."""

import os

from conftest import ROOT

RECIPES = os.path.join(ROOT, "tests", "data", "deliberate_recipes.py")


def test_deliberate_recipes_are_silent(lint):
    with open(RECIPES, encoding="utf-8") as fh:
        source = fh.read()
    assert lint(source, "--show-info", "--select", "ALL") == []


def test_each_recipe_is_really_in_the_file():
    """The silence above means something only if every recipe is there and analysed."""
    with open(RECIPES, encoding="utf-8") as fh:
        text = fh.read()
    for cls in ("DiTBlock", "ReZero", "FixupBlock", "LoRALinear", "ZeroConv", "ZeroHead",
                "DCGANGenerator", "NonLocalBlock"):
        assert f"class {cls}(nn.Module)" in text
    assert "torch.Tensor([0])" in text and "netG.apply(weights_init)" in text


def test_the_same_files_with_a_real_fault_are_reported(lint):
    """Mutations of the recipes that are real faults: the analysis does see these models."""
    with open(RECIPES, encoding="utf-8") as fh:
        source = fh.read()
    mutations = {
        "torch.Tensor([0])": ("torch.empty(1)", "IL204"),
        "nn.init.zeros_(self.head.weight)": ("nn.init.zeros_(self.body[0].weight)", "IL201"),
        "nn.init.normal_(m.weight.data, 1.0, 0.02)": ("nn.init.normal_(m.weight.data, 0.0, 0.02)",
                                                     "IL206"),
    }
    for old, (new, code) in mutations.items():
        assert old in source
        found = lint(source.replace(old, new))
        assert code in {f["code"] for f in found if f["severity"] in ("error", "warning")}, (
            old, new, found)
