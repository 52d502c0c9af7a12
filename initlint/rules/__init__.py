"""Rule registry. A rule is one class carrying its code, docs and VALID/INVALID examples;
the examples generate its tests and its `initlint rule CODE` page."""

from __future__ import annotations

import textwrap
from typing import Callable, ClassVar

from initlint.analysis.model import Loc


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[str]  # default severity
    severity_logic: ClassVar[str] = ""
    summary: ClassVar[str]
    what: ClassVar[str] = ""
    why: ClassVar[str] = ""
    example: ClassVar[str] = ""
    use_instead: ClassVar[str] = ""
    fix_safety: ClassVar[str] = "No automatic fix."
    opt_in: ClassVar[bool] = False
    VALID: ClassVar[list[str]] = []
    INVALID: ClassVar[list[str]] = []  # each produces at least one finding of this code

    def check(self, project, emit: Callable) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def doc(cls) -> str:
        parts = [f"{cls.code} ({cls.name})", "",
                 f"Severity: {cls.severity}" + (f" — {cls.severity_logic}" if cls.severity_logic else ""),
                 "Default: " + ("no (opt-in: select it)" if cls.opt_in else "yes"), "",
                 "What it does", textwrap.indent(textwrap.fill(cls.what or cls.summary, 88), "  "), ""]
        if cls.why:
            parts += ["Why is this bad?", textwrap.indent(textwrap.fill(cls.why, 88), "  "), ""]
        if cls.example:
            parts += ["Example", textwrap.indent(textwrap.dedent(cls.example).strip("\n"), "    "), ""]
        if cls.use_instead:
            parts += ["Use instead", textwrap.indent(textwrap.dedent(cls.use_instead).strip("\n"),
                                                     "    "), ""]
        parts += ["Fix", textwrap.indent(textwrap.fill(cls.fix_safety, 88), "  ")]
        return "\n".join(parts) + "\n"


RULES: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    if cls.code in RULES:
        raise ValueError(f"duplicate rule code {cls.code}")
    RULES[cls.code] = cls
    return cls


class ParseError(Rule):
    code = "IL001"
    name = "parse-error"
    severity = "error"
    summary = "A file cannot be read or parsed (syntax error, bad encoding)."
    what = ("Reports a Python file initlint cannot decode or parse. The rest of the tree is "
            "still linted; the file itself is not analyzed.")
    why = "A file that cannot be parsed cannot be checked, and will not import either."
    example = "class Net(nn.Module:\n    pass"
    use_instead = "class Net(nn.Module):\n    pass"
    INVALID = ["class Net(nn.Module:\n    pass\n"]

    def check(self, project, emit) -> None:  # emitted by the engine while reading files
        return None


register(ParseError)

from initlint.rules import activation, lifecycle, structure, weights  # noqa: E402,F401

CODES = sorted(RULES)


def all_rules() -> list[type[Rule]]:
    return [RULES[c] for c in CODES]


def loc_of(x) -> Loc:
    return x
