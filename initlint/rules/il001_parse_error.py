"""IL001 parse-error: A file cannot be read or parsed (syntax error, bad encoding)."""

from __future__ import annotations

from initlint.rules.base import Rule
from initlint.rules.examples import Expect, Invalid


class ParseError(Rule):
    code = "IL001"
    name = "parse-error"
    severity = "error"
    summary = "A file cannot be read or parsed (syntax error, bad encoding)."
    what = ("Reports a Python file initlint cannot decode or parse. The rest of the tree is "
            "still linted; the file itself is not analyzed.")
    why = "A file that cannot be parsed cannot be checked, and will not import either."
    use_instead = "class Net(nn.Module):\n    pass"
    EXAMPLES = [
        Invalid("class Net(nn.Module:\n    pass\n", [Expect(1, 20, "error")]),
    ]

    def check(self, project, emit) -> None:  # emitted by the engine while reading files
        return None
