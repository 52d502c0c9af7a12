"""The interpreter: one class made of the per-concern mixins, plus the entry points the rest
of initlint calls — build a class as a model, evaluate a forward into a feeds graph, run a
module-level script."""

from __future__ import annotations

import ast
from contextlib import contextmanager
from dataclasses import dataclass, field

from initlint.analysis.model import Graph, Node
from initlint.evaluate.calls import CallMixin
from initlint.evaluate.exprs import ExprMixin
from initlint.evaluate.forward import ForwardMixin
from initlint.evaluate.initpass import InitMixin
from initlint.evaluate.stmts import Frame, StmtMixin
from initlint.evaluate.torchlib import TorchMixin
from initlint.evaluate.values import ClassV, FuncV, ModuleV, TensorV, Unknown

STEP_BUDGET = 200_000  # evaluation steps per entry point


class BudgetExceeded(Exception):
    pass


@dataclass
class Evaluation:
    """What evaluating one class (or script) gave: the module tree, whether it is complete,
    the files it read (its dependency set), and an error when evaluation stopped early."""

    module: ModuleV | None
    deps: set = field(default_factory=set)
    error: str | None = None

    @property
    def status(self) -> str:
        """fully | partly | none: how much of the class the evaluator could build."""
        m = self.module
        if m is None or self.error:
            return "none"
        unknown = sum(len(s.unknowns) for _, s in m.named_modules())
        if not unknown:
            return "fully"
        built = sum(1 for _ in m.named_modules()) - 1 + len(m.params)
        return "partly" if built else "none"


class Interpreter(ExprMixin, StmtMixin, CallMixin, TorchMixin, InitMixin, ForwardMixin):
    def __init__(self, project, budget: int = STEP_BUDGET):
        self.project = project
        project.interp = self
        self.budget = budget
        self.max_iter = 4096  # items of a known list (a model's modules()) iterated in full
        self.steps = 0
        self.depth = 0
        self.memo: dict = {}
        self.inst_memo: dict = {}  # (class, frozen arguments) -> (built module, its deps)
        self.deps: set = set()
        self.via = "__init__"
        self.mode = "init"
        self.graph: Graph | None = None
        self.paths: dict = {}
        self.param_paths: dict = {}
        self._globals: dict = {}  # (module, name) -> value of a module-level assignment
        self.scripts: dict = {}  # path -> the module-level frame while a script runs

    def tick(self):
        self.steps += 1
        if self.steps > self.budget:
            raise BudgetExceeded()

    @contextmanager
    def via_as(self, label):
        was, self.via = self.via, label
        try:
            yield
        finally:
            self.via = was

    def load_name(self, name, fr):
        scope = fr
        while scope is not None:
            if name in scope.locals:
                return scope.locals[name]
            scope = scope.parent
        top = self.scripts.get(fr.src.path)
        if top is not None and name in top.locals:
            return top.locals[name]
        return self.project.lookup_global(fr.src, name, self.deps)

    def captured(self, fn):
        """(fn(), the files it read). What it read counts for the evaluation running now too;
        memos store it, so a later hit records the same dependencies as the first run."""
        outer, self.deps = self.deps, set()
        try:
            v = fn()
        finally:
            mine = self.deps
            outer |= mine  # in place: callers may hold the outer set
            self.deps = outer
        return v, frozenset(mine)

    def module_assign(self, src, name, stmt, deps: set | None = None):
        key = (src.module, name)
        hit = self._globals.get(key)
        if hit is None:
            self._globals[key] = (Unknown(f"global {name}"), frozenset())  # recursion guard
            value = stmt.value
            if value is None:
                return self._globals[key][0]
            v, found = self.captured(lambda: self.ev(value, Frame(src)))
            if isinstance(stmt, ast.Assign) and not all(isinstance(t, ast.Name)
                                                        for t in stmt.targets):
                v = Unknown(f"global {name}")
            hit = self._globals[key] = (v, found)
        if hit[1]:
            self.deps |= hit[1]
            if deps is not None:
                deps |= hit[1]
        return hit[0]

    # ------------------------------------------------------------------ entry points
    def _guarded(self, fn):
        self.steps, self.depth, self.deps = 0, 0, set()
        try:
            return fn(), None
        except BudgetExceeded:
            return None, "step budget exceeded"
        except RecursionError:
            return None, "recursion too deep"
        finally:
            self.steps, self.depth = 0, 0

    def build(self, cls: ClassV, args=(), kwargs=None) -> Evaluation:
        """Construct `cls` with its own defaults (required arguments unknown)."""
        self.mode = "init"
        m, err = self._guarded(lambda: self.instantiate(cls, list(args), dict(kwargs or {}),
                                                        Frame(cls.src), cls.node))
        return Evaluation(m, set(self.deps) | {cls.src.path}, err)

    def forward_graph(self, m: ModuleV) -> Graph | None:
        """The feeds graph of `m.forward` (child forwards inlined; paths relative to `m`)."""
        if m.cls is None:
            return None
        fwd, _ = self.class_attr(m.cls, "forward")
        if not isinstance(fwd, FuncV):
            return None
        self.mode, self.graph = "forward", Graph()
        self.paths = {id(sub): name for name, sub in m.named_modules()}
        self.param_paths = {id(p): name for name, p in m.named_parameters()}
        self.graph.nodes.append(Node(0, "input"))
        nargs = len(fwd.node.args.posonlyargs) + len(fwd.node.args.args) - 1
        n_req = nargs - len(fwd.node.args.defaults)
        args = [TensorV(nodes=frozenset({0})) for _ in range(max(n_req, 1 if nargs else 0))]
        try:
            out, err = self._guarded(lambda: self.invoke(fwd, [m] + args, {}, fwd.node))
        finally:
            self.mode = "init"
        g = self.graph
        if err is None:
            ins = _out_nodes(out)
            if ins:
                nid = len(g.nodes)
                g.nodes.append(Node(nid, "output"))
                g.edges.extend((i, nid) for i in sorted(ins))
        return g

    def run_script(self, src) -> dict:
        """Execute a file's module level (`model = Net(); model.apply(init)`), with
        `__name__ == "__main__"`; returns the modules bound to top-level names."""
        fr = Frame(src)
        fr.locals["__name__"] = "__main__"
        self.scripts[src.path] = fr
        try:
            _, err = self._guarded(lambda: self.run_block(
                [s for s in src.body if not isinstance(s, (ast.FunctionDef, ast.ClassDef,
                                                           ast.AsyncFunctionDef))], fr))
        finally:
            self.scripts.pop(src.path, None)
        return {k: v for k, v in fr.locals.items() if isinstance(v, ModuleV) and not v.plain}


def _out_nodes(v) -> frozenset:
    if isinstance(v, TensorV):
        return v.nodes
    if isinstance(v, (tuple, list)):
        out: frozenset = frozenset()
        for x in v:
            out |= _out_nodes(x)
        return out
    if isinstance(v, dict):
        return _out_nodes(list(v.values()))
    return frozenset()
