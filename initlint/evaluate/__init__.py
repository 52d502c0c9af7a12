"""An abstract interpreter for the subset of Python that model code is written in.

One semantics (a loop, a call, a container, a filter) answers the three questions the rules
ask: what modules a class builds, what init each parameter ends up with (its ordered write
history), and what feeds what in `forward`. What cannot be computed is `Unknown`; a write
behind an unknown condition is "may", never "certain".

    project = Project.from_sources({"model.py": text})
    ev = Interpreter(project)
    result = ev.build(project.lookup_global(project.by_path["model.py"], "Net"))
    result.module.params / result.module.children / ev.forward_graph(result.module)

Layout: values (abstract values), sources (per-file compact form, name lookup), exprs,
stmts, calls, torchlib (built-in torch/Python callables), initpass (module methods and
init writes), forward (feeds graph), interp (the entry points).
"""

from initlint.evaluate.interp import Evaluation, Interpreter
from initlint.evaluate.sources import Project, SourceFile
from initlint.evaluate.values import (
    CERTAIN, MAY, ClassV, ModuleV, ParamV, TensorV, Unknown, Write,
)

__all__ = ["CERTAIN", "MAY", "ClassV", "Evaluation", "Interpreter", "ModuleV", "ParamV",
           "Project", "SourceFile", "TensorV", "Unknown", "Write", "evaluate_source"]


def evaluate_source(text: str, path: str = "model.py"):
    """Convenience for one file: (interpreter, {class name: Evaluation}) for every
    nn.Module class defined in it."""
    project = Project.from_sources({path: text})
    ev = Interpreter(project)
    src = project.by_path[path]
    out = {}
    for name in list(src.defs):
        c = project.lookup_global(src, name)
        if isinstance(c, ClassV) and ev.is_module_class(c):
            out[name] = ev.build(c)
    return ev, out
