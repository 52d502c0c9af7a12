"""Typed remedies: what a rule says a fix should do, decided where the rule decides the finding.

A rule attaches one of these values to its finding; the fix engine (`initlint.fix`, one
planner per type in `initlint/fix/remedies.py`) turns it into edits of the file (it knows the
syntax, the rule knows the meaning). They are plain, frozen, picklable values: no syntax
tree, no libcst, so the static linter never imports the fix engine unless a fix is asked for.

Three shapes of edit come out of them: *replace an init call* (`UseKaiming`, `UseXavier`,
`MatchNonlinearity`, `UseLecun`, `ScaleByFan`, `UniformBounds`), *insert a statement*
(`ZeroLastNorm`, `ScaleRandn` when the parameter is built without an init call to rewrite),
and *add an import* where the new call needs one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar


@dataclass(frozen=True)
class Remedy:
    """Base of every remedy. `shared`: the init call being rewritten also initializes other
    layers (a `modules()` loop, an applied function), so the fix is unsafe; `reach`: how many
    layers that call initializes, when counted."""

    shared: bool = False
    reach: int | None = None
    rewrites_call: ClassVar[bool] = False  # class-level: the edit rewrites the init call itself

    def widened(self, reach: int) -> "Remedy":
        """The same remedy, marked as one that changes `reach` layers at once."""
        return replace(self, shared=True, reach=reach)

    @property
    def key(self) -> str:
        """A stable name for the remedy's kind (fix identity across passes)."""
        return type(self).__name__


@dataclass(frozen=True)
class UseKaiming(Remedy):
    """Replace the init call by `kaiming_*_(w, nonlinearity=..., a=...)` (same distribution)."""

    nonlinearity: str = "relu"
    a: float | None = None
    rewrites_call: ClassVar[bool] = True


@dataclass(frozen=True)
class UseXavier(Remedy):
    """Replace the init call by `xavier_*_(w, gain=calculate_gain(act))`."""

    gain: str | None = None  # the saturating activation the gain is for
    rewrites_call: ClassVar[bool] = True


@dataclass(frozen=True)
class MatchNonlinearity(Remedy):
    """Make the nonlinearity named by the init call the one that follows the layer."""

    act: str | None = None
    a: float | None = None
    family: str | None = None  # relu | saturating | linear ... (knowledge families)
    rewrites_call: ClassVar[bool] = True


@dataclass(frozen=True)
class UseLecun(Remedy):
    """Replace the init call by LeCun normal (`kaiming_normal_(w, nonlinearity="linear")`)."""

    rewrites_call: ClassVar[bool] = True


@dataclass(frozen=True)
class ScaleByFan(Remedy):
    """Replace an unscaled draw by a fan-in scaled one suited to the activation."""

    act: str | None = None
    a: float | None = None
    family: str | None = None
    runtime: bool = False  # the activation is chosen at run time: no safe choice
    rewrites_call: ClassVar[bool] = True


@dataclass(frozen=True)
class ScaleRandn(Remedy):
    """A raw `nn.Parameter(torch.randn(...))`: scale the draw by its fan-in."""

    param: str = ""


@dataclass(frozen=True)
class UniformBounds(Remedy):
    """`normal_(t, a, b)` written for `uniform_(t, a, b)`: call the uniform init."""

    rewrites_call: ClassVar[bool] = True


@dataclass(frozen=True)
class ZeroLastNorm(Remedy):
    """Insert `nn.init.zeros_(<block>.<bn>.weight)` where the model initializes its blocks."""

    bn: str = ""
    cls: str = ""


ALL = (UseKaiming, UseXavier, MatchNonlinearity, UseLecun, ScaleByFan, ScaleRandn,
       UniformBounds, ZeroLastNorm)
