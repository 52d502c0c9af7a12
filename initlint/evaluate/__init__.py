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
           "Project", "SourceFile", "TensorV", "Unknown", "Write", "build_class", "evaluate_source",
           "run_script"]


def _project(sources):
    if isinstance(sources, str):
        sources = {"model.py": sources}
    return Project.from_sources(sources), next(iter(sources))


def evaluate_source(sources, path: str | None = None):
    """(interpreter, {class name: Evaluation}) for every nn.Module class defined in `path`
    (default: the first file). `sources`: a text, or `{path: text}` for several files."""
    project, first = _project(sources)
    ev = Interpreter(project)
    src = project.by_path[path or first]
    out = {}
    for name in list(src.defs):
        c = project.lookup_global(src, name)
        if isinstance(c, ClassV) and ev.is_module_class(c):
            out[name] = ev.build(c)
    return ev, out


def build_class(sources, name: str, path: str | None = None, *args, **kwargs):
    """(interpreter, Evaluation) of one class constructed with `args`/`kwargs`."""
    project, first = _project(sources)
    ev = Interpreter(project)
    c = project.lookup_global(project.by_path[path or first], name)
    if not isinstance(c, ClassV):
        raise KeyError(name)
    return ev, ev.build(c, args, kwargs)


def run_script(sources, path: str | None = None):
    """(interpreter, {name: ModuleV}) of a module-level script."""
    project, first = _project(sources)
    ev = Interpreter(project)
    return ev, ev.run_script(project.by_path[path or first])
