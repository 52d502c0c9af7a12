"""Suppression comments (RULES.md §5): `# noqa`, `# noqa: CODE[, CODE]`,
`# initlint: ignore[CODE]`, `# initlint: skip-file`."""

import json
import textwrap

import pytest

from conftest import run_cli
from initlint import suppress
from test_cli import BROKEN, invoke

# six hidden layers, each `normal_(w)` (IL202 on lines 13..18); a tanh between them so that
# only IL202 fires; the comment on each init line is filled in per test
TEMPLATE = """\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)
        self.c = nn.Linear(8, 8)
        self.d = nn.Linear(8, 8)
        self.e = nn.Linear(8, 8)
        self.f = nn.Linear(8, 1)
        nn.init.normal_(self.a.weight){0}
        nn.init.normal_(self.b.weight){1}
        nn.init.normal_(self.c.weight){2}
        nn.init.normal_(self.d.weight){3}
        nn.init.normal_(self.e.weight){4}
        nn.init.normal_(self.f.weight){5}

    def forward(self, x):
        x = self.a(x).tanh()
        x = self.b(x).tanh()
        x = self.c(x).tanh()
        x = self.d(x).tanh()
        x = self.e(x).tanh()
        return self.f(x)
"""
FIRST_ROW = 13


def _rows(tmp_path, comments, *args, name="m.py"):
    comments = list(comments) + [""] * (6 - len(comments))
    (tmp_path / name).write_text(TEMPLATE.format(*comments))
    r = invoke(str(tmp_path / name), "--output-format", "json", "--no-cache", *args)
    assert r.exit_code in (0, 1), r.output
    return sorted(f["location"]["row"] - FIRST_ROW for f in json.loads(r.stdout)
                  if f["code"] == "IL202")


def test_baseline_every_line_is_reported(tmp_path):
    assert _rows(tmp_path, []) == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("comment,suppressed", [
    ("  # noqa", True),
    ("  # NOQA", True),
    ("  #noqa", True),
    ("  # noqa: IL202", True),
    ("  # noqa:IL202", True),
    ("  # noqa : IL202", True),
    ("  # noqa: il202", True),
    ("  # noqa: IL101, IL202", True),
    ("  # noqa: IL202,IL101", True),
    ("  # noqa: IL101 IL202", True),
    ("  # noqa: IL202 -- std is set later by a checkpoint", True),
    ("  # initlint: ignore[IL202]", True),
    ("  # initlint: ignore[IL101, IL202]", True),
    ("  # initlint: ignore[IL101,IL202]", True),
    ("  # type: ignore  # noqa: IL202", True),
    ("  # noqa: IL201", False),
    ("  # noqa: IL101, IL201", False),
    ("  # noqa: E501", False),
    ("  # noqa: IL2021", False),
    ("  # initlint: ignore[IL201]", False),
    ("  # initlint: ignore[E501]", False),
    ("  # nosec", False),
    ("  # a note about noqa-free code", False),
])
def test_line_suppression_forms(tmp_path, comment, suppressed):
    # the comment on line 2 of the six; the others must stay reported
    rows = _rows(tmp_path, ["", "", comment])
    want = [0, 1, 3, 4, 5] if suppressed else [0, 1, 2, 3, 4, 5]
    assert rows == want, comment


def test_suppression_is_per_line(tmp_path):
    rows = _rows(tmp_path, ["  # noqa: IL202", "", "  # initlint: ignore[IL202]", "",
                            "  # noqa: IL101", "  # noqa"])
    assert rows == [1, 3, 4]


def test_noqa_does_not_hide_other_codes_on_the_line(tmp_path):
    src = textwrap.dedent("""\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(64, 64)
                self.b = nn.Linear(64, 10)
                for m in (self.a,):
                    nn.init.zeros_(m.weight)  # noqa: IL202
                self.act = nn.ReLU()

            def forward(self, x):
                return self.b(self.act(self.a(x)))
    """)
    (tmp_path / "m.py").write_text(src)
    r = invoke(str(tmp_path / "m.py"), "--output-format", "json")
    assert [(f["code"], f["location"]["row"]) for f in json.loads(r.stdout)] == [("IL201", 10)]
    (tmp_path / "m.py").write_text(src.replace("# noqa: IL202", "# noqa: IL201"))
    r = invoke(str(tmp_path / "m.py"), "--output-format", "json")
    assert json.loads(r.stdout) == [] and r.exit_code == 0


def test_noqa_on_the_last_line_of_a_multiline_statement(tmp_path):
    src = textwrap.dedent("""\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(8, 8)
                self.b = nn.Linear(8, 1)
                nn.init.normal_(
                    self.a.weight,
                ){}

            def forward(self, x):
                return self.b(self.a(x).tanh())
    """)
    (tmp_path / "m.py").write_text(src.format(""))
    r = invoke(str(tmp_path / "m.py"), "--output-format", "json")
    (f,) = json.loads(r.stdout)
    assert (f["code"], f["location"]["row"], f["end_location"]["row"]) == ("IL202", 9, 11)
    (tmp_path / "m.py").write_text(src.format("  # noqa: IL202"))
    r = invoke(str(tmp_path / "m.py"), "--output-format", "json")
    assert json.loads(r.stdout) == []


def test_skip_file(tmp_path):
    body = TEMPLATE.format(*[""] * 6)
    (tmp_path / "skipped.py").write_text("# initlint: skip-file\n" + body)
    (tmp_path / "skipped2.py").write_text(body + "\n#initlint:skip-file\n")
    (tmp_path / "kept.py").write_text(body)
    (tmp_path / "broken_skipped.py").write_text("# initlint: skip-file\n" + BROKEN)
    r = run_cli(".", "--output-format", "json", cwd=tmp_path)
    assert r.returncode == 1
    assert {f["filename"] for f in json.loads(r.stdout)} == {"./kept.py"}
    r = run_cli("skipped.py", "skipped2.py", "broken_skipped.py", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == b"All checks passed!\n"


def test_skip_file_does_not_affect_other_files(tmp_path):
    """A skipped file reports nothing; the other files are linted normally."""
    body = TEMPLATE.format(*[""] * 6)
    (tmp_path / "a.py").write_text("# initlint: skip-file\n" + body)
    (tmp_path / "b.py").write_text(body)
    r = invoke(str(tmp_path), "--output-format", "json")
    data = json.loads(r.stdout)
    assert len(data) == 6 and all(f["filename"].endswith("b.py") for f in data)


def test_suppressions_in_every_output_format(tmp_path):
    """noqa is honoured whatever the output format (DESIGN.md 'habits to avoid')."""
    (tmp_path / "m.py").write_text(TEMPLATE.format("  # noqa", "  # noqa: IL202",
                                                   "  # initlint: ignore[IL202]", "", "", ""))
    m = str(tmp_path / "m.py")
    counts = {}
    for fmt in ("concise", "full", "json", "github"):
        r = invoke(m, "--output-format", fmt)
        assert r.exit_code == 1
        counts[fmt] = (len(json.loads(r.stdout)) if fmt == "json" else r.stdout.count("IL202"))
    assert counts["json"] == 3
    assert counts["concise"] == 3 and counts["github"] == 3
    assert counts["full"] >= 3 and ":13:" not in invoke(m, "--output-format", "full").stdout
    stats = invoke(m, "--statistics").stdout
    assert stats.split("\t")[0].strip() == "3"


def test_il001_is_not_hidden_by_noqa(tmp_path):
    (tmp_path / "b.py").write_text("import torch\nclass Net(nn.Module:  # noqa\n    pass\n")
    r = invoke(str(tmp_path / "b.py"), "--output-format", "json")
    assert [f["code"] for f in json.loads(r.stdout)] == ["IL001"]


# ---------------------------------------------------------------- the module itself


def test_suppressions_unit():
    text = textwrap.dedent("""\
        a = 1  # noqa
        b = 2  # noqa: IL101, IL202
        c = 3  # initlint: ignore[IL404]
        d = 4
    """)
    sup = suppress.suppressions(text)
    assert sup[1] == {suppress.ALL}
    assert sup[2] == {"IL101", "IL202"}
    assert sup[3] == {"IL404"}
    assert 4 not in sup
    assert suppress.is_suppressed(sup, "IL999", [1])
    assert suppress.is_suppressed(sup, "IL202", [2]) and not suppress.is_suppressed(sup, "IL201", [2])
    assert suppress.is_suppressed(sup, "IL404", [3]) and not suppress.is_suppressed(sup, "IL403", [3])
    assert not suppress.is_suppressed(sup, "IL101", [4])
    assert suppress.is_suppressed(sup, "IL101", [4, 2])  # any row of the finding
    assert suppress.suppressions("x = 1\n") == {}
    assert suppress.skip_file("# initlint: skip-file\nx = 1\n")
    assert not suppress.skip_file("# initlint: skip-files-later\n")
    assert not suppress.skip_file("x = 1\n")
