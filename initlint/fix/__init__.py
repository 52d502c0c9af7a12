"""Autofix: every finding with a canonical remedy gets a `Fix` of minimal text edits.

Design ("ast to understand, libcst to change", DESIGN.md):

* The rules attach a typed remedy to the finding (`initlint.remedies`: which fix, which
  activation, ...); `remedies.py` here has one planner per remedy type.
* For a file with such findings we parse it once with the stdlib `ast` (cheap) to find the call
  at the finding's location, its statement, function and class, and the file's imports
  (`locate.py`).
* The call itself is rewritten with libcst, parsing only that call's source text
  (`rewrite.py`): the arguments we keep keep their formatting and comments, and the edit
  replaces just the call. New statements (`zeros_` for IL301, a LeCun init for IL104) are
  inserted as whole lines; a missing import extends an existing `from torch.nn.init import ...`
  or adds `import torch`.
* `apply` (`applying.py`) applies non-overlapping fixes (in a deterministic order), re-parses
  the result (a fix whose result does not parse is dropped with a message), re-lints the
  changed files in memory, takes back a fix that draws a new finding where it acted
  (`checks.py`), and repeats until nothing fixable is left (at most MAX_PASSES). Then it
  writes each changed file atomically (`write.py`). Notebooks are written back with only the
  changed cells' `source` values replaced in the JSON text (`notebook.py`).

This module is the public API; libcst is imported only when a fix is computed.
"""

from initlint.fix.applying import MAX_PASSES, Outcome, apply
from initlint.fix.plan import attach_fixes
from initlint.fix.write import CHANGED_ON_DISK, TEMP_SUFFIX, remove_stale_temps

__all__ = ["CHANGED_ON_DISK", "MAX_PASSES", "TEMP_SUFFIX", "Outcome", "apply", "attach_fixes",
           "remove_stale_temps"]
