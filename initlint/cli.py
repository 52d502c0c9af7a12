"""The `initlint` command line (RULES.md §3)."""

from __future__ import annotations

import errno
import os
import sys

import click

from initlint import __version__
from initlint.config import Config, ConfigError, apply_table, find_config, load, validate_codes
from initlint.report import FORMATS

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class DefaultGroup(click.Group):
    """`initlint PATH...` means `initlint check PATH...`."""

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h", "--version")):
            args = ["check"] + list(args)
        ctx.meta["initlint.argv"] = list(args)  # for _crash: was --verbose given?
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        """Last line of defence: a bug anywhere is one clear line and exit 2, never a bare
        traceback (the traceback with --verbose/-v, or INITLINT_DEBUG=1)."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # `initlint ... | head`: click handles it
                raise
            _crash(ctx, exc)
        except Exception as exc:
            _crash(ctx, exc)


def _crash(ctx, exc: BaseException) -> None:
    import traceback

    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {os.path.basename(where.filename)}:{where.lineno})" if where else ""
    click.echo(f"initlint: internal error: {type(exc).__name__}: {exc}{at}; please report it"
               " (--verbose shows the traceback)", err=True)
    argv = set(ctx.meta.get("initlint.argv", ()))
    if os.environ.get("INITLINT_DEBUG") or {"-v", "--verbose"} & argv:
        click.echo("".join(traceback.format_exception(exc)), err=True)
    sys.exit(EXIT_ERROR)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="initlint")
def main() -> None:
    """initlint: catch weight-initialization mistakes in PyTorch model code.

    `initlint PATH...` lints files and folders (the `check` word is optional).
    """


def _codes(values: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(s.strip() for s in v.split(",") if s.strip())
    return out


def build_config(config_path: str | None, paths: list[str], select, extend_select, ignore,
                 show_info: bool) -> Config:
    """Config from file, then command-line overrides; ConfigError on anything invalid."""
    if config_path is None:
        start = paths[0] if paths and paths[0] != "-" else os.getcwd()
        while start and not os.path.exists(start):  # e.g. a --stdin-filename not on disk
            start = os.path.dirname(start)
        start = start or os.getcwd()
        config_path = find_config(start)
    cfg = load(config_path)
    if select:
        cfg.select = _codes(select)
        validate_codes(cfg.select, "--select")
    if extend_select:
        cfg.extend_select = cfg.extend_select + _codes(extend_select)
        validate_codes(_codes(extend_select), "--extend-select")
    if ignore:
        cfg.ignore = cfg.ignore + _codes(ignore)
        validate_codes(_codes(ignore), "--ignore")
    if show_info:
        cfg.show_info = True
    return cfg


def _fail(message: str) -> None:
    click.echo(f"initlint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


@main.command("check")
@click.argument("paths", nargs=-1, type=click.Path(readable=False))  # unreadable: IL001, not a usage error
@click.option("--select", multiple=True, metavar="CODES", help="Rules to enable (codes, prefixes, ALL); replaces the default set.")
@click.option("--extend-select", multiple=True, metavar="CODES", help="Rules to enable on top of the selection.")
@click.option("--ignore", multiple=True, metavar="CODES", help="Rules to disable.")
@click.option("--fix", is_flag=True, help="Apply safe fixes in place.")
@click.option("--unsafe-fixes", is_flag=True, help="With --fix/--diff, include unsafe fixes.")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff; write nothing.")
@click.option("--output-format", type=click.Choice(FORMATS), default="concise", show_default=True)
@click.option("-o", "--output-file", type=click.Path(dir_okay=False), help="Write the report to a file.")
@click.option("--statistics", is_flag=True, help="Print counts per rule instead of findings.")
@click.option("--show-info", is_flag=True, help="Show info-level findings.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings are reported.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file to use.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the cache.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, help="Worker processes (0: all cores).")
@click.option("--quiet", "-q", is_flag=True, help="Print findings only, no summary.")
@click.option("--stdin-filename", help="The file name to report for `-` (stdin).")
@click.option("--context", "context_paths", multiple=True, type=click.Path(),
              help="Also analyse PATH for cross-file facts (init functions applied from other "
                   "files, base classes) without reporting on it; pre-commit passes only staged "
                   "files, so its hook adds `--context .`.")
@click.option("--verbose", "-v", is_flag=True, help="Print tracebacks of internal errors.")
def check(paths, select, extend_select, ignore, fix, unsafe_fixes, diff, output_format,
          output_file, statistics, show_info, exit_zero, config_path, no_cache, jobs, quiet,
          stdin_filename, verbose, context_paths) -> None:
    """Lint PATHS (files, folders, or - for stdin)."""
    from initlint import engine
    from initlint.discover import discover

    paths = list(paths) or ["."]
    try:
        where = [stdin_filename] if paths == ["-"] and stdin_filename else paths
        cfg = build_config(config_path, where, select, extend_select, ignore, show_info)
    except ConfigError as exc:
        _fail(str(exc))
    stdin = None
    file_paths = [p for p in paths if p != "-"]
    if "-" in paths:
        data = sys.stdin.buffer.read()
        stdin = (stdin_filename or "-", data)
    targets, missing = discover(file_paths, cfg)
    if missing:
        _fail("; ".join(f"{m}: no such file or directory" for m in missing))
    analyze = _analyzer(jobs, cfg, no_cache)
    context = discover([p for p in context_paths if os.path.exists(p)], cfg)[0] \
        if context_paths else ()
    report = engine.lint(targets, cfg, stdin=stdin, analyze=analyze, context=context)
    findings = report.findings
    fix_mode = fix or diff
    report_to_stderr = False
    if fix_mode or statistics or output_format in ("json", "sarif", "full", "concise"):
        try:
            from initlint import fix as fixer
        except ImportError:  # pragma: no cover - fix module always ships
            fixer = None
        if fixer is not None:
            if not fix_mode:  # (apply attaches fixes to what is left itself)
                # the analyzer memoizes them in its cache beside the join
                getattr(analyze, "attach_fixes", fixer.attach_fixes)(findings, report,
                                                                     stdin=stdin)
            if fix_mode:
                outcome = fixer.apply(report, cfg, unsafe=unsafe_fixes, diff_only=diff,
                                      stdin=stdin, analyze=analyze)
                findings = outcome.findings
                if outcome.diff_text:
                    click.echo(outcome.diff_text, nl=False)
                if getattr(outcome, "stdout_text", None) is not None:  # --fix on stdin, like ruff
                    click.echo(outcome.stdout_text, nl=False)
                    report_to_stderr = True
                for msg in outcome.messages:
                    click.echo(msg, err=True)
                if diff and outcome.diff_text:
                    findings = findings or outcome.fixed_findings
    from initlint import report as rep

    if statistics:
        text = rep.statistics(findings)
    else:
        text = rep.render(output_format, findings, report)
        if quiet and output_format in ("concise", "full"):
            text = "".join(line + "\n" for line in text.splitlines()
                           if line and not line.startswith(("Found ", "All checks", "[*]")) and
                           "fixable with" not in line)
    if output_file:
        try:
            with open(output_file, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            _fail(f"cannot write {output_file}: {exc.strerror or exc}")
    elif text and not (diff and output_format == "concise" and not statistics):
        click.echo(text, nl=False, err=report_to_stderr)
    for where, reason in report.internal_errors:
        first = reason.strip().splitlines()[0] if reason.strip() else "unknown error"
        click.echo(f"initlint: internal error in {where}: {first}", err=True)
        if verbose:
            click.echo(reason, err=True)
    if report.internal_errors:
        sys.exit(EXIT_ERROR)
    if fix_mode and getattr(outcome, "write_failures", None):  # a fix not written is an error
        sys.exit(EXIT_ERROR)
    if exit_zero:
        sys.exit(EXIT_OK)
    if diff:
        sys.exit(EXIT_FINDINGS if (outcome.diff_text if fix_mode else False) else EXIT_OK)
    sys.exit(EXIT_FINDINGS if findings else EXIT_OK)


def _analyzer(jobs: int, cfg: Config, no_cache: bool):
    try:
        from initlint.parallel import make_analyzer
    except ImportError:
        return None
    return make_analyzer(jobs=jobs, config=cfg, use_cache=not no_cache)


@main.command("rule")
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every rule.")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text")
def rule_cmd(code, show_all, output_format) -> None:
    """Print a rule's documentation (or list them all with --all)."""
    import json

    from initlint.rules import RULES, all_rules

    if show_all or not code:
        rules = all_rules()
        if output_format == "json":
            click.echo(json.dumps([{"code": r.code, "name": r.name, "severity": r.severity,
                                    "severity_logic": r.severity_logic, "default": not r.opt_in,
                                    "summary": r.summary} for r in rules], indent=2))
            return
        for r in rules:
            opt = " (opt-in)" if r.opt_in else ""
            logic = f" [{r.severity_logic}]" if r.severity_logic else ""
            click.echo(f"{r.code}  {r.name:<28} {r.severity:<8}{opt} {r.summary}{logic}")
        return
    r = RULES.get(code.upper())
    if r is None:
        _fail(f"unknown rule code {code!r} (see `initlint rule --all`)")
    if output_format == "json":
        click.echo(json.dumps({"code": r.code, "name": r.name, "severity": r.severity,
                               "doc": r.doc()}, indent=2))
    else:
        click.echo(r.doc(), nl=False)


@main.command("graph")
@click.argument("target")
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "json"]), default="text")
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
def graph_cmd(target, fmt, config_path) -> None:
    """Show the model graph initlint inferred: PATH[::Class]."""
    from initlint.graphview import show

    path, _, cls = target.partition("::")
    if not os.path.exists(path):
        _fail(f"{path}: no such file or directory")
    try:
        cfg = build_config(config_path, [path], (), (), (), False)
    except ConfigError as exc:
        _fail(str(exc))
    text, found = show(path, cls or None, fmt, cfg)
    if not found:
        _fail(f"no model class {cls!r} in {path}" if cls else f"no model classes in {path}")
    click.echo(text, nl=False)


def _register_optional() -> None:
    for mod, attr in (("initlint.probe.cli", "probe"), ("initlint.lsp_cli", "lsp"),
                      ("initlint.cache", "clean_command")):
        try:
            module = __import__(mod, fromlist=[attr])
        except ImportError:
            continue
        cmd = getattr(module, attr, None)
        if cmd is not None:
            main.add_command(cmd)


_register_optional()

if __name__ == "__main__":  # pragma: no cover
    main()
