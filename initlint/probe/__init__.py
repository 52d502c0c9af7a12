"""`initlint probe`: build the model in a child process, push a random batch through it and
measure activation and gradient statistics layer by layer (RULES.md §6).

Layout:
  cli.py      the click command (no torch import)
  runner.py   parent side: starts the child, enforces the time limit, kills its process group
  child.py    the child's entry point: imports torch and the user's code
  measure.py  hooks, statistics, input inference, LSUV (torch; child only)
  verdicts.py verdicts from the measurements (pure Python)
  join.py     static findings on the probed classes, confirmed or not by the measurement
  report.py   text and JSON output
  plot.py     the --plot image (matplotlib, the `plot` extra)

The parent process never imports torch or user code; only `child.py`/`measure.py` do.
"""

PROBE_EXTRA_HINT = "pip install 'initlint[probe]'"
PLOT_EXTRA_HINT = "pip install 'initlint[plot]'"
