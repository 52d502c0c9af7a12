"""Models built at module level (scripts, notebooks, tutorials) are analysed like a
constructor: `model = nn.Sequential(...)`, then the statements that init `model`."""

import json

SCRIPT = '''
import torch
import torch.nn as nn

model = nn.Sequential(
    nn.Linear(784, 256),
    nn.ReLU(),
    nn.Linear(256, 256),
    nn.ReLU(),
    nn.Linear(256, 10),
)
{INIT}
opt = torch.optim.SGD(model.parameters(), lr=0.1)
'''

LOOP = '''for m in model.modules():
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight)
        nn.init.zeros_(m.bias)'''


def test_module_level_sequential_and_its_init_loop(lint):
    found = lint(SCRIPT.replace("{INIT}", LOOP))
    assert [(f["code"], f["severity"], f["location"]["row"]) for f in found] == [
        ("IL202", "error", SCRIPT.replace("{INIT}", LOOP).splitlines().index(
            "        nn.init.normal_(m.weight)") + 1)]
    fixed = LOOP.replace("nn.init.normal_(m.weight)",
                         'nn.init.kaiming_normal_(m.weight, nonlinearity="relu")')
    assert lint(SCRIPT.replace("{INIT}", fixed)) == []


def test_module_level_init_of_one_layer(lint):
    src = SCRIPT.replace("{INIT}", "nn.init.xavier_uniform_(model[0].weight)")
    assert [f["code"] for f in lint(src)] == ["IL101"]


def test_a_rebound_name_is_another_object(lint):
    src = SCRIPT.replace("{INIT}", "model = torch.compile(model)\n"
                                   "nn.init.xavier_uniform_(model[0].weight)")
    assert lint(src) == []  # what `model` is after the rebinding is not the Sequential


def test_notebook_cells_build_and_init_a_model(tmp_path):
    import nbformat
    from click.testing import CliRunner

    from initlint.cli import main

    nb = nbformat.v4.new_notebook()
    cells = SCRIPT.replace("{INIT}", LOOP).split("\nopt = ")[0].split("\nfor m")
    nb.cells = [nbformat.v4.new_code_cell(cells[0]), nbformat.v4.new_code_cell("for m" + cells[1])]
    path = tmp_path / "tutorial.ipynb"
    nbformat.write(nb, str(path))
    r = CliRunner().invoke(main, [str(path), "--output-format", "json", "--no-cache"])
    found = json.loads(r.stdout)
    assert [f["code"] for f in found] == ["IL202"], r.output
    assert "cell 2" in CliRunner().invoke(main, [str(path), "--no-cache"]).stdout
