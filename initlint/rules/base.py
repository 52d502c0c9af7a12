"""The rule base class: code, name, docs under fixed headings, typed examples, `check`, and
the probe's confirmation hook. One subclass per module `ilNNN_<name>.py` (see __init__)."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Callable, ClassVar

from initlint.rules.examples import Example, Invalid, Valid

if TYPE_CHECKING:
    from initlint.findings import Finding
    from initlint.probe.join import Evidence

NOT_MEASURED = "not measured"


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[str]  # default severity
    severity_logic: ClassVar[str] = ""
    summary: ClassVar[str]
    what: ClassVar[str] = ""
    why: ClassVar[str] = ""
    use_instead: ClassVar[str] = ""  # shown when no example carries a `fixed` text
    fix_safety: ClassVar[str] = "No automatic fix."
    opt_in: ClassVar[bool] = False
    EXAMPLES: ClassVar[list[Example]] = []

    def check(self, project, emit: Callable) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def confirm(self, finding: Finding, ev: Evidence) -> tuple[str, str]:
        """How the probe's measurement bears on `finding`: (status, evidence text), status one
        of confirmed | not confirmed | not measured. Rules without a runtime test keep this."""
        return NOT_MEASURED, f"the probe has no runtime test for {self.code}"

    @classmethod
    def valid(cls) -> list[Valid]:
        return [e for e in cls.EXAMPLES if isinstance(e, Valid)]

    @classmethod
    def invalid(cls) -> list[Invalid]:
        return [e for e in cls.EXAMPLES if isinstance(e, Invalid)]

    @classmethod
    def doc_example(cls) -> Invalid | None:
        """The example the docs show: the first with a fixed text, else the first invalid."""
        bad = cls.invalid()
        return next((e for e in bad if e.fixed is not None), bad[0] if bad else None)

    @classmethod
    def sections(cls) -> list[tuple[str, str, str]]:
        """(heading, "text" | "code", body) in page order: the same for `initlint rule CODE`
        and docs/rules/CODE.md."""
        out = [("What it does", "text", (cls.what or cls.summary).strip())]
        if cls.why:
            out.append(("Why is this bad?", "text", cls.why.strip()))
        ex = cls.doc_example()
        if ex is not None:
            out.append(("Example", "code", ex.code.strip("\n")))
            where = "; ".join(f"line {e.row}, column {e.col}: {e.severity}" for e in ex.expect)
            out.append(("", "text", f"initlint reports {cls.code} at {where}."))
        if ex is not None and ex.fixed is not None:
            how = "`initlint --fix --unsafe-fixes`" if ex.unsafe_fixes else "`initlint --fix`"
            out.append(("Use instead", "text", f"After {how}:"))
            out.append(("", "code", ex.fixed.strip("\n")))
        elif cls.use_instead:
            out.append(("Use instead", "code", textwrap.dedent(cls.use_instead).strip("\n")))
        out.append(("Fix", "text", cls.fix_safety.strip()))
        return out

    @classmethod
    def doc(cls) -> str:
        parts = [f"{cls.code} ({cls.name})", "",
                 f"Severity: {cls.severity}" + (f" — {cls.severity_logic}" if cls.severity_logic else ""),
                 "Default: " + ("no (opt-in: select it)" if cls.opt_in else "yes")]
        for head, kind, body in cls.sections():
            parts += ["", head] if head else [""]
            if kind == "code":
                parts.append(textwrap.indent(body, "    "))
            else:
                parts.append(textwrap.indent(textwrap.fill(body, 88), "  "))
        return "\n".join(parts) + "\n"
