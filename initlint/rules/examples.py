"""Typed rule examples (Fixit's `Valid`/`Invalid`): each rule lists them in `EXAMPLES`; they
generate its tests (tests/test_rule_examples.py) and the example on its page.

`Invalid.expect` is every finding of the rule's code the example must produce (exact row,
column and severity, optionally part of the message); `fixed` is the whole file after
`initlint --fix --select CODE` (with `--unsafe-fixes` when `unsafe_fixes` is set)."""

from __future__ import annotations

from dataclasses import dataclass, field

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n"
SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Expect:
    """One finding: 1-based row and column of its location, its severity."""

    row: int
    col: int
    severity: str
    message_contains: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"Expect: severity {self.severity!r} is not one of {SEVERITIES}")
        if self.row < 1 or self.col < 1:
            raise ValueError(f"Expect: row and column are 1-based, got {self.row}:{self.col}")


@dataclass(frozen=True)
class Valid:
    """Source the rule must not report."""

    code: str


@dataclass(frozen=True)
class Invalid:
    """Source the rule reports exactly as `expect` says (and fixes into `fixed`, if given)."""

    code: str
    expect: list[Expect] = field(default_factory=list)
    fixed: str | None = None
    unsafe_fixes: bool = False

    def __post_init__(self) -> None:
        if not self.expect:
            raise ValueError("Invalid: an invalid example expects at least one finding")
        if self.unsafe_fixes and self.fixed is None:
            raise ValueError("Invalid: unsafe_fixes without a `fixed` text")

    @property
    def fix_args(self) -> tuple[str, ...]:
        """The command-line options that produce `fixed`."""
        return ("--fix", "--unsafe-fixes") if self.unsafe_fixes else ("--fix",)


Example = Valid | Invalid
