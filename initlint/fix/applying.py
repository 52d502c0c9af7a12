"""The apply loop (`--fix`, `--diff`): passes of plan -> select -> apply -> re-parse -> re-lint
in memory -> take back what made things worse, until nothing fixable is left (at most
MAX_PASSES); then write each changed file (`write.write_atomic`) or print the diff."""

from __future__ import annotations

import dataclasses
import difflib
from collections import defaultdict
from dataclasses import dataclass, field

from initlint import engine
from initlint.findings import Finding
from initlint.fix.checks import made_worse, reject_key, try_plans, where
from initlint.fix.notebook import cells_of
from initlint.fix.plan import Plan, plan_findings, select
from initlint.fix.sources import Source, Sources
from initlint.fix.write import CHANGED_ON_DISK, write_atomic

MAX_PASSES = 10


@dataclass
class Outcome:
    findings: list[Finding]  # what is left after fixing (decides the exit code)
    diff_text: str = ""  # unified diff (--diff), else ""
    messages: list[str] = field(default_factory=list)  # lines for stderr
    fixed_findings: list[Finding] = field(default_factory=list)
    stdout_text: bytes | None = None  # --fix on stdin: the fixed source, for stdout
    fixed_files: list[str] = field(default_factory=list)
    write_failures: list[str] = field(default_factory=list)  # files left as they were (exit 2)


def apply(report, cfg, unsafe: bool = False, diff_only: bool = False,
          stdin: tuple[str, bytes] | None = None, analyze=None) -> Outcome:
    """Apply fixes (safe ones; unsafe too with `unsafe`), re-lint until stable, write files.
    A bug in the fixer is reported as an internal error (exit 2), not a traceback, and
    whatever was not yet written stays as it was."""
    try:
        run = _Run(report, cfg, unsafe, diff_only, stdin)
        return run.outcome(run.passes())
    except Exception as exc:
        import traceback

        report.internal_errors.append(
            ("fix", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        return Outcome(findings=report.findings)


class _Run:
    """One run of the apply loop and the state its passes share.

    Each pass applies the non-overlapping fixes of every file, checks that the result parses,
    re-lints the changed files in memory and keeps a fix only if it does not make things worse
    where it acted: a rewritten shared init that now draws a different finding (for another
    layer it reaches), or an inserted statement that draws one (an init that a later one
    overwrites), is taken back. A file whose fixes undo each other is left as it was.
    """

    def __init__(self, report, cfg, unsafe: bool, diff_only: bool, stdin):
        self.report, self.cfg, self.unsafe, self.diff_only, self.stdin = \
            report, cfg, unsafe, diff_only, stdin
        # context files (`--context`): their facts take part in the re-lint, never fixed
        self.results = list(report.files) + list(getattr(report, "context", None) or [])
        self.index = {r.display: i for i, r in enumerate(report.files)}
        self.srcs = Sources(report, stdin)
        self.current = self.srcs.current  # display -> bytes after fixing
        self.originals: dict[str, Source] = {}
        self.history: dict[str, set] = defaultdict(set)
        self.frozen: set[str] = set()  # files whose fixes cycle: left as they were
        self.rejected: set[tuple] = set()  # fixes that made things worse: not offered again
        self.messages: list[str] = []
        self.errors: list[str] = []
        self.fixed: list[Finding] = []
        self.explicit = cfg.explicit_codes()
        self.all_cfg = dataclasses.replace(cfg, show_info=True)
        self.everything = None  # all findings, info included (to see what a fix changes)

    # ---- the passes
    def passes(self) -> list[Finding]:
        """Run passes until none changes anything; the findings left."""
        findings = self.report.findings
        for _ in range(MAX_PASSES):
            after = self.one_pass(findings)
            if after is None:
                return findings
            findings = after
        self.messages.append(f"initlint: fixes did not converge after {MAX_PASSES} passes; "
                             f"check the result")
        self.plans_for(findings)
        return findings

    def one_pass(self, findings: list[Finding]) -> list[Finding] | None:
        """Apply what is fixable in `findings`; the visible findings after, or None when
        nothing changed (converged)."""
        todo = [p for p in self.plans_for(findings)
                if (self.unsafe or p.fix.applicability == "safe")
                and p.finding.filename not in self.frozen]
        if not todo:
            return None
        if self.everything is None:
            self.everything = self.lint()
        by_file: dict[str, list[Plan]] = defaultdict(list)
        for p in todo:
            by_file[p.finding.filename].append(p)
        passed: dict[str, tuple] = {}  # display -> (source before, result before, applied)
        for display in sorted(by_file):
            self.apply_file(display, by_file[display], passed)
        if not passed:
            return None
        after = self.lint()
        if self.take_back_worse(passed, after):
            after = self.lint()
        self.everything = after
        return self.visible(after)

    def apply_file(self, display: str, plans: list[Plan], passed: dict) -> None:
        """Apply one file's selected plans in memory and re-analyse it."""
        src = self.srcs.get(display)
        if src is None:
            return
        self.originals.setdefault(display, src)
        data, applied = try_plans(src, select(plans), self.messages)
        if not applied or data == src.data:
            return
        if data in self.history[display]:
            self.freeze(display)
            passed[display] = (None, None, [])
            return
        self.history[display].add(src.data)
        i = self.index[display]
        passed[display] = (src, self.results[i], applied)
        self.current[display] = data
        r = self.results[i]
        self.results[i] = engine.analyze_file(r.path, r.display, data)

    def freeze(self, display: str) -> None:
        """The file's fixes cycle: leave it as it was."""
        self.messages.append(f"initlint: fixes for {display} keep undoing each other (an init "
                             f"shared by layers that need different inits?); left unchanged")
        self.frozen.add(display)
        self.current.pop(display, None)
        self.fixed = [f for f in self.fixed if f.filename != display]
        i = self.index[display]
        self.results[i] = self.report.files[i]

    def take_back_worse(self, passed: dict, after: list[Finding]) -> bool:
        """Undo this pass in each file where a fix drew a new finding; did any?"""
        worse = False
        for display, (src, result, applied) in passed.items():
            if src is None:
                continue
            bad = made_worse(src, self.srcs.get(display), applied, self.everything, after)
            if not bad:
                self.fixed.extend(p.finding for p in applied)
                continue
            worse = True
            for p in bad:
                self.rejected.add(reject_key(p, self.srcs, src))
                f = p.finding
                self.messages.append(f"initlint: dropped fix for {f.code} at {where(f)}: it "
                                     f"would draw a new finding where it acts (the init is "
                                     f"shared or overwritten)")
            if self.originals[display] is src:  # back to the state before this pass
                self.current.pop(display, None)
            else:
                self.current[display] = src.data
            self.results[self.index[display]] = result
            self.history[display].discard(src.data)
        return worse

    def lint(self) -> list[Finding]:
        """Every finding of the current (partly fixed) results, info included."""
        return engine.finish(self.results, self.all_cfg).findings

    def visible(self, fs: list[Finding]) -> list[Finding]:
        cfg = self.cfg
        return [f for f in fs if f.severity != "info" or cfg.show_info or f.code in self.explicit]

    def plans_for(self, fs: list[Finding]) -> list[Plan]:
        """Plans for `fs` (not the rejected ones); each finding's `fix` is set to match."""
        ps = plan_findings(fs, self.srcs, self.errors)
        ok = [p for p in ps if reject_key(p, self.srcs) not in self.rejected]
        for f in fs:
            f.fix = None
        for p in ok:
            p.finding.fix = p.fix
        return ok

    # ---- the result
    def outcome(self, findings: list[Finding]) -> Outcome:
        """Write (or diff) the changed files and say what was done."""
        self.messages.extend(f"initlint: {e}" for e in self.errors)
        out = Outcome(findings=findings, messages=self.messages)
        changed = [d for d in sorted(self.current)
                   if d not in self.frozen and self.current[d] != self.originals[d].data]
        diffs, failed = self.write_changes(changed)
        if self.stdin is not None and not self.diff_only:  # like ruff: the (fixed) source
            out.stdout_text = self.current.get(self.stdin[0], self.stdin[1])  # goes to stdout
        if failed:  # what could not be written is still there
            out.findings = self.relint_unwritten(failed)
        out.write_failures = failed
        out.fixed_findings = [f for f in self.fixed if f.filename not in failed]
        out.fixed_files = [d for d in changed if d not in failed]
        if diffs:
            out.diff_text = "".join(diffs)
        n_fixed, n_files = len(out.fixed_findings), len(out.fixed_files)
        if n_fixed:
            verb = "Would fix" if self.diff_only else "Fixed"
            self.messages.insert(0, f"{verb} {n_fixed} finding{'s' if n_fixed != 1 else ''} in "
                                    f"{n_files} file{'s' if n_files != 1 else ''}.")
        return out

    def write_changes(self, changed: list[str]) -> tuple[list[str], list[str]]:
        """(diffs, files that could not be written) for the changed files."""
        stdin_name = self.stdin[0] if self.stdin else None
        diffs, failed = [], []
        for display in changed:
            src, new = self.originals[display], self.current[display]
            if self.diff_only:
                diffs.append(diff(src, new))
            elif self.stdin is not None and display == stdin_name and src.path == stdin_name:
                continue
            else:
                problem = write_atomic(src, new)
                if problem:
                    self.messages.append(f"initlint: error: cannot write {display}: {problem}")
                    failed.append(display)
        for display in sorted(self.srcs.changed):
            what = "show the fixes for" if self.diff_only else "write"
            self.messages.append(f"initlint: error: cannot {what} {display}: {CHANGED_ON_DISK}")
            failed.append(display)
        return diffs, failed

    def relint_unwritten(self, failed: list[str]) -> list[Finding]:
        """The findings with the files that were not written back as they are on disk."""
        for display in failed:
            i = self.index[display]
            self.results[i] = self.report.files[i]
            self.current.pop(display, None)
        findings = engine.finish(self.results, self.cfg).findings
        self.plans_for(findings)
        for f in findings:  # `--fix` was tried there: "fixable with --fix" would be a lie
            if f.filename in failed:
                f.fix = None
        return findings


def diff(src: Source, new: bytes) -> str:
    """A unified diff of the fix (per changed cell in a notebook)."""
    if src.notebook:
        old_cells, new_cells = cells_of(src.data), cells_of(new)
        out = []
        for n in sorted(set(old_cells) | set(new_cells)):
            a, b = old_cells.get(n, ""), new_cells.get(n, "")
            if a != b:
                out.append(_unified(a, b, f"{src.display}:cell {n}"))
        return "".join(out)
    from initlint.source import decode

    return _unified(src.text, decode(new, src.path), src.display)


def _unified(a: str, b: str, name: str) -> str:
    out = []
    for line in difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                     fromfile=name, tofile=name):
        out.append(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n")
    return "".join(out)
