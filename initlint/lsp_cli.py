"""`initlint lsp`: the click command. Importing this module never needs pygls; running the
command without it prints how to install the `lsp` extra and exits 2."""

from __future__ import annotations

import sys

import click

LSP_MODULES = ("pygls", "lsprotocol", "cattrs", "attrs", "attr")


class _OneLine:
    """A log formatter without tracebacks (they go to --log-file only)."""

    def __init__(self, fmt: str):
        import logging

        self._fmt = logging.Formatter(fmt)

    def format(self, record) -> str:
        import logging

        brief = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None,
                                       "stack_info": None})
        text = self._fmt.format(brief)
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        return text.replace("\n", " ")


@click.command("lsp")
@click.option("--stdio", is_flag=True,
              help="Talk JSON-RPC over stdin/stdout (the default; accepted for clients that pass it).")
@click.option("--debounce-ms", type=click.IntRange(min=0), default=None,
              help="Wait this long after the last change before linting (default 300).")
@click.option("--log-file", type=click.Path(dir_okay=False), default=None,
              help="Write the server's log to this file (stdout carries the protocol).")
def lsp(stdio: bool, debounce_ms: int | None, log_file: str | None) -> None:
    """Run the initlint Language Server over stdio (needs the `lsp` extra)."""
    try:
        from initlint.lsp import serve
    except ImportError as exc:
        missing = (getattr(exc, "name", None) or "").split(".")[0]
        if missing in LSP_MODULES or not missing:
            click.echo("initlint: error: `initlint lsp` needs the `lsp` extra (pygls 2.x), which "
                       f"is not installed ({exc}). Install it with: pip install 'initlint[lsp]'",
                       err=True)
        else:
            click.echo(f"initlint: error: cannot start the language server: {exc}", err=True)
        sys.exit(2)
    import logging

    if log_file:
        logging.basicConfig(filename=log_file, level=logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
    else:  # never on stdout: that is the protocol channel; one line each, no tracebacks
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_OneLine("initlint lsp: %(levelname)s: %(message)s"))
        logging.basicConfig(handlers=[handler], level=logging.WARNING)
    serve(None if debounce_ms is None else debounce_ms / 1000.0)
