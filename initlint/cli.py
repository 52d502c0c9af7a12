"""The `initlint` command line (RULES.md §3)."""

from __future__ import annotations

import errno
import os
import sys

import click

from initlint import __version__
from initlint.config import Config, ConfigError, apply_table, find_config, load, validate_codes
from initlint.findings import rule_url
from initlint.report import FORMATS

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class DefaultGroup(click.Group):
    """`initlint PATH...` means `initlint check PATH...`."""

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and
                        args[0] not in ("--help", "-h", "--version", "-V")):
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
@click.version_option(__version__, "-V", "--version", prog_name="initlint")
def main() -> None:
    """initlint: catch weight-initialization mistakes in PyTorch model code.

    `initlint PATH...` lints files and folders (the `check` word is optional).
    """


def _codes(values: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(s.strip() for s in v.split(",") if s.strip())
    return out


class UsageError(Exception):
    """Bad input on the command line or in a file: one line, exit 2."""


def _inline_toml(value: str) -> dict:
    """`--config 'KEY = VALUE'` (TOML; `probe.timeout = 60` reaches the probe table)."""
    from initlint.config import tomllib

    try:
        return tomllib.loads(value)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {value!r}: not a file, and not a TOML `key = value` "
                          f"setting: {exc}") from None


def _config_args(values) -> tuple[str | None, list[str]]:
    """--config values: at most one file, any number of inline `KEY = VALUE` settings."""
    path, inline = None, []
    for v in values or ():
        if "=" in v and not os.path.isfile(v):
            inline.append(v)
        elif path is not None:
            raise ConfigError(f"--config: one configuration file at most ({path!r}, {v!r})")
        else:
            path = v
    return path, inline


def _pattern_codes(values, option: str) -> dict[str, list[str]]:
    """--per-file-ignores 'tests/*:IL2,IL301' (several values, or `;`-separated)."""
    out: dict[str, list[str]] = {}
    for v in values:
        for item in filter(None, (x.strip() for x in v.split(";"))):
            pattern, sep, codes = item.rpartition(":")
            if not sep or not pattern.strip() or not codes.strip():
                raise ConfigError(f"{option} {item!r}: expected PATTERN:CODES "
                                  "(e.g. 'tests/*:IL2,IL301')")
            names = _codes((codes,))
            validate_codes(names, f"{option} {pattern.strip()!r}")
            out.setdefault(pattern.strip(), []).extend(names)
    return out


def build_config(config_path, paths: list[str], select, extend_select, ignore,
                 show_info: bool, *, exclude=(), extend_exclude=(), per_file_ignores=(),
                 extend_per_file_ignores=(), force_exclude: bool | None = None) -> Config:
    """Config from file, then `--config KEY=VALUE`, then the other command-line options;
    ConfigError on anything invalid. `config_path` is a path, or the --config values."""
    from initlint.findings import set_docs_url

    inline: list[str] = []
    if isinstance(config_path, (tuple, list)):
        config_path, inline = _config_args(config_path)
    if config_path is None:
        start = paths[0] if paths and paths[0] != "-" else os.getcwd()
        while start and not os.path.exists(start):  # e.g. a --stdin-filename not on disk
            start = os.path.dirname(start)
        start = start or os.getcwd()
        config_path = find_config(start)
    cfg = load(config_path)
    for value in inline:
        apply_table(cfg, _inline_toml(value), "--config ")
    if select:
        cfg.select = _codes(select)
        validate_codes(cfg.select, "--select")
    if extend_select:
        cfg.extend_select = cfg.extend_select + _codes(extend_select)
        validate_codes(_codes(extend_select), "--extend-select")
    if ignore:
        cfg.ignore = cfg.ignore + _codes(ignore)
        validate_codes(_codes(ignore), "--ignore")
    if exclude:
        cfg.exclude = _codes(exclude)
    if extend_exclude:
        cfg.extend_exclude = cfg.extend_exclude + _codes(extend_exclude)
    if per_file_ignores:
        cfg.per_file_ignores = _pattern_codes(per_file_ignores, "--per-file-ignores")
    for pattern, codes in _pattern_codes(extend_per_file_ignores,
                                         "--extend-per-file-ignores").items():
        cfg.per_file_ignores[pattern] = cfg.per_file_ignores.get(pattern, []) + codes
    if force_exclude is not None:
        cfg.force_exclude = force_exclude
    if show_info:
        cfg.show_info = True
    set_docs_url(cfg.docs_url)
    return cfg


def _fail(message: str) -> None:
    click.echo(f"initlint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


OUTPUT_FORMAT_ENV = "INITLINT_OUTPUT_FORMAT"


@main.command("check")
@click.argument("paths", nargs=-1, type=click.Path(readable=False))  # unreadable: IL001, not a usage error
@click.option("--select", multiple=True, metavar="CODES", help="Rules to enable (codes, prefixes, ALL); replaces the default set.")
@click.option("--extend-select", multiple=True, metavar="CODES", help="Rules to enable on top of the selection.")
@click.option("--ignore", multiple=True, metavar="CODES", help="Rules to disable.")
@click.option("--exclude", multiple=True, metavar="PATTERNS", help="Glob patterns of files and folders to skip; replaces `exclude` (the defaults, or the configured list); `extend-exclude` still applies.")
@click.option("--extend-exclude", multiple=True, metavar="PATTERNS", help="Glob patterns to skip on top of the excludes.")
@click.option("--force-exclude/--no-force-exclude", default=None, help="Apply the excludes to files named on the command line too (the pre-commit hooks pass it).")
@click.option("--per-file-ignores", multiple=True, metavar="PATTERN:CODES", help="Rules to disable in matching files (e.g. 'tests/*:IL2'); replaces the configured table.")
@click.option("--extend-per-file-ignores", multiple=True, metavar="PATTERN:CODES", help="Like --per-file-ignores, on top of the configured table.")
@click.option("--fix", is_flag=True, help="Apply safe fixes in place.")
@click.option("--unsafe-fixes", is_flag=True, help="With --fix/--diff, include unsafe fixes.")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff; write nothing.")
@click.option("--show-fixes", is_flag=True, help="List the fixes applied (with --fix) or available, per file and rule.")
@click.option("--add-noqa", is_flag=True, help="Add `# noqa: CODE` to every line with a finding (Python files).")
@click.option("--output-format", type=click.Choice(FORMATS), default="concise", show_default=True,
              envvar=OUTPUT_FORMAT_ENV, show_envvar=True)
@click.option("-o", "--output-file", type=click.Path(dir_okay=False), help="Write the report to a file.")
@click.option("--statistics", is_flag=True, help="Print counts per rule instead of findings (a JSON array with --output-format json).")
@click.option("--show-info", is_flag=True, help="Show info-level findings.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings are reported.")
@click.option("--config", "config_path", multiple=True, metavar="FILE|KEY=VALUE",
              help="Configuration file to use, or a TOML setting that overrides it "
                   "(e.g. --config 'min-chain = 8'); may be repeated.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the cache.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, help="Worker processes (0: all cores).")
@click.option("--quiet", "-q", is_flag=True, help="Print findings only, no summary.")
@click.option("--stdin-filename", help="Lint stdin, reported under this name (also with `-`).")
@click.option("--context", "context_paths", multiple=True, type=click.Path(),
              help="Also analyse PATH for cross-file facts (init functions applied from other "
                   "files, base classes) without reporting on it; pre-commit passes only staged "
                   "files, so its hook adds `--context .`.")
@click.option("--watch", "-w", is_flag=True, help="Lint again whenever a file changes (Ctrl-C stops).")
@click.option("--verbose", "-v", is_flag=True, help="Print tracebacks of internal errors.")
def check(**opts) -> None:
    """Lint PATHS (files, folders, or - for stdin)."""
    from types import SimpleNamespace

    o = SimpleNamespace(**opts)
    if o.watch:
        from initlint.watch import watch

        sys.exit(watch(lambda: _run_reporting(o), lambda: _watched(o)))
    sys.exit(_run_reporting(o))


def _run_reporting(o) -> int:
    try:
        return _run(o)
    except UsageError as exc:
        click.echo(f"initlint: error: {exc}", err=True)
        return EXIT_ERROR


def _config_for(o, paths: list[str]) -> Config:
    try:
        return build_config(o.config_path, paths, o.select, o.extend_select, o.ignore,
                            o.show_info, exclude=o.exclude, extend_exclude=o.extend_exclude,
                            per_file_ignores=o.per_file_ignores,
                            extend_per_file_ignores=o.extend_per_file_ignores,
                            force_exclude=o.force_exclude)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _watched(o) -> list[str]:
    """What --watch polls: the files linted, and the configuration file."""
    from initlint.discover import discover

    paths = list(o.paths) or ["."]
    try:
        cfg = _config_for(o, paths)
    except UsageError:
        cfg = Config()
    found = [t.path for t in discover([p for p in paths if p != "-"], cfg)[0]]
    return found + ([cfg.path] if cfg.path else [])


def _run(o) -> int:
    """One lint run: report, fixes, exit status."""
    from initlint import engine
    from initlint.discover import discover

    paths = list(o.paths)
    if o.add_noqa and (o.fix or o.diff):
        raise UsageError("--add-noqa cannot be combined with --fix or --diff")
    # `--stdin-filename NAME` with no path reads stdin (as ruff does); `-` does too
    if not paths and o.stdin_filename:
        paths = ["-"]
    paths = paths or ["."]
    where = [o.stdin_filename] if paths == ["-"] and o.stdin_filename else paths
    cfg = _config_for(o, where)
    stdin = None
    report_to_stderr = False
    file_paths = [p for p in paths if p != "-"]
    if "-" in paths:
        data = sys.stdin.buffer.read()
        if cfg.force_exclude and o.stdin_filename and cfg.excluded_anywhere(o.stdin_filename):
            if o.fix:  # an editor replaces the buffer with what comes back: unchanged
                click.echo(data, nl=False)
                report_to_stderr = True
        else:
            stdin = (o.stdin_filename or "-", data)
    targets, missing = discover(file_paths, cfg)
    if missing:
        raise UsageError("; ".join(f"{m}: no such file or directory" for m in missing))
    analyze = _analyzer(o.jobs, cfg, o.no_cache)
    context = discover([p for p in o.context_paths if os.path.exists(p)], cfg)[0] \
        if o.context_paths else ()
    from initlint.report.progress import progress

    with progress(len(targets) + (stdin is not None), enabled=not o.quiet and not o.watch):
        report = engine.lint(targets, cfg, stdin=stdin, analyze=analyze, context=context)
    if o.add_noqa:
        from initlint.noqa import add_noqa

        added, messages = add_noqa(report.findings)
        for msg in messages:
            click.echo(msg, err=True)
        click.echo(f"Added {added} noqa directive{'s' if added != 1 else ''}.", err=True)
        return EXIT_ERROR if report.internal_errors else EXIT_OK
    findings = report.findings
    fix_mode = o.fix or o.diff
    outcome = None
    fmt = o.output_format
    if fix_mode or o.statistics or o.show_fixes or fmt in ("json", "json-lines", "sarif",
                                                           "full", "concise"):
        from initlint import fix as fixer

        if not fix_mode:  # (apply attaches fixes to what is left itself)
            # the analyzer memoizes them in its cache beside the join
            getattr(analyze, "attach_fixes", fixer.attach_fixes)(findings, report, stdin=stdin)
        else:
            outcome = fixer.apply(report, cfg, unsafe=o.unsafe_fixes, diff_only=o.diff,
                                  stdin=stdin, analyze=analyze)
            findings = outcome.findings
            if outcome.diff_text:
                click.echo(outcome.diff_text, nl=False)
            if getattr(outcome, "stdout_text", None) is not None:  # --fix on stdin, like ruff
                click.echo(outcome.stdout_text, nl=False)
                report_to_stderr = True
            for msg in outcome.messages:
                click.echo(msg, err=True)
            if o.diff and outcome.diff_text:
                findings = findings or outcome.fixed_findings
    from initlint import report as rep

    to_terminal = not o.output_file
    color = to_terminal and rep.use_color(sys.stderr if report_to_stderr else sys.stdout)
    if o.statistics:
        text = rep.statistics(findings, fmt, color=color)
    else:
        text = rep.render(fmt, findings, report, color=color)
        if o.quiet and fmt in ("concise", "full"):
            text = "".join(line + "\n" for line in text.splitlines()
                           if line and not click.unstyle(line).startswith(
                               ("Found ", "All checks", "[*]")) and
                           "fixable with" not in line)
    if o.show_fixes and fmt in ("concise", "full") and not o.statistics:
        text += rep.show_fixes(outcome.fixed_findings if outcome is not None and o.fix
                               else findings, applied=outcome is not None and o.fix,
                               unsafe=o.unsafe_fixes)
    if o.output_file:
        try:
            with open(o.output_file, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise UsageError(f"cannot write {o.output_file}: {exc.strerror or exc}") from None
    elif text and not (o.diff and fmt == "concise" and not o.statistics):
        click.echo(text, nl=False, err=report_to_stderr, color=color)
    for where, reason in report.internal_errors:
        first = reason.strip().splitlines()[0] if reason.strip() else "unknown error"
        click.echo(f"initlint: internal error in {where}: {first}", err=True)
        if o.verbose:
            click.echo(reason, err=True)
    if report.internal_errors:
        return EXIT_ERROR
    if fix_mode and getattr(outcome, "write_failures", None):  # a fix not written is an error
        return EXIT_ERROR
    if o.exit_zero:
        return EXIT_OK
    if o.diff:
        return EXIT_FINDINGS if outcome is not None and outcome.diff_text else EXIT_OK
    return EXIT_FINDINGS if findings else EXIT_OK


def _analyzer(jobs: int, cfg: Config, no_cache: bool):
    try:
        from initlint.parallel import make_analyzer
    except ImportError:
        return None
    return make_analyzer(jobs=jobs, config=cfg, use_cache=not no_cache)


@main.command("rule")
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every rule.")
@click.option("--output-format", type=click.Choice(["text", "json", "markdown"]), default="text",
              help="markdown: the page in docs/rules/ (with --all: the rule table).")
def rule_cmd(code, show_all, output_format) -> None:
    """Print a rule's documentation (or list them all with --all)."""
    import json

    from initlint.report.rulepage import page, table
    from initlint.rules import RULES, all_rules

    if show_all or not code:
        rules = all_rules()
        if output_format == "markdown":
            click.echo(table(), nl=False)
            return
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
                               "doc": r.doc(), "url": rule_url(r.code)}, indent=2))
    elif output_format == "markdown":
        click.echo(page(r), nl=False)
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
