"""Abstract values of the evaluator.

Literals (int, float, str, bool, None) and containers (list, tuple, dict) are plain Python
values: arithmetic on known values is Python's own. Everything else is one of the classes
below. What cannot be computed is an :class:`Unknown` that says where it came from; nothing
is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CERTAIN, MAY = "certain", "may"


class Unknown:
    """A value the evaluator could not compute (a config field, a call it cannot see)."""

    __slots__ = ("origin", "alts")

    def __init__(self, origin: str = "?", alts: tuple = ()):
        self.origin = origin
        self.alts = alts  # the known values it is one of (branches of an unknown `if`)

    def __repr__(self):
        return f"Unknown({self.origin})"


def is_unknown(v) -> bool:
    return type(v) is Unknown


@dataclass
class Ref:
    """A name outside the project, canonical dotted (`torch.nn.Linear`, `math.sqrt`)."""

    name: str

    def __hash__(self):
        return hash(self.name)


@dataclass(eq=False)
class FuncV:
    """A project function, method or lambda with the scope it closes over."""

    node: object  # ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    src: object  # the SourceFile it is defined in
    closure: dict | None = None  # enclosing function's locals (nested defs, lambdas)
    owner: "ClassV | None" = None  # class it is defined in (super())
    kind: str = "function"  # function | staticmethod | classmethod | property

    @property
    def name(self) -> str:
        return getattr(self.node, "name", "<lambda>")

    def __repr__(self):
        return f"FuncV({self.name})"


@dataclass(eq=False)
class ClassV:
    """A project class: its body's functions and class attributes, bases evaluated lazily."""

    name: str
    qualname: str  # module.Class
    node: object  # ast.ClassDef
    src: object
    bases: list = field(default_factory=list)  # evaluated: ClassV | Ref | Unknown
    attrs: dict = field(default_factory=dict)  # class-level names: FuncV or evaluated values
    deps: frozenset = frozenset()  # files its definition, bases and body names were read from

    def __repr__(self):
        return f"ClassV({self.qualname})"

    def mro(self) -> list:
        """Project classes then external bases, depth first, each once (good enough for the
        single-inheritance chains model code uses). Computed once: bases are fixed when the
        class is first looked up."""
        cached = self.__dict__.get("_mro")
        if cached is not None:
            return cached
        out, seen = [], set()

        def visit(c):
            if id(c) in seen:
                return
            seen.add(id(c))
            out.append(c)
            if isinstance(c, ClassV):
                for b in c.bases:
                    visit(b)
        visit(self)
        self.__dict__["_mro"] = out
        return out

    def lookup(self, name: str):
        for c in self.mro():
            if isinstance(c, ClassV) and name in c.attrs:
                return c.attrs[name], c
        return None, None

    def external_bases(self) -> list[str]:
        return [b.name for b in self.mro() if isinstance(b, Ref)]


@dataclass(eq=False)
class BoundMethod:
    obj: object
    func: object  # FuncV or a builtin name (str) for methods of abstract values
    cls: object = None  # class where the lookup found it


@dataclass(eq=False)
class PartialV:
    func: object
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class Write:
    """One init write to a parameter: what it does, where, and how sure we are."""

    kind: str  # default empty data randn rand zero constant normal uniform xavier kaiming ...
    func: str  # as resolved: torch.nn.init.normal_, tensor.normal_, torch.empty
    params: dict = field(default_factory=dict)  # evaluated arguments (values may be Unknown)
    loc: tuple | None = None  # (path, row, col)
    via: str = ""  # "apply(_init_weights)", "reset_parameters()", "constructor"
    certainty: str = CERTAIN


@dataclass(eq=False)
class ParamV:
    """A parameter (or buffer): shape when known, and its ordered write history."""

    shape: tuple | None = None  # entries may be Unknown
    writes: list = field(default_factory=list)
    buffer: bool = False
    loc: tuple | None = None
    raw: bool = True  # an nn.Parameter built by the code (False: a built-in layer's weight)

    @property
    def final(self) -> Write | None:
        """The last write certain to take effect (a "may" write after it leaves it standing,
        which is what makes a finding on it uncertain)."""
        for w in reversed(self.writes):
            if w.certainty == CERTAIN:
                return w
        return None

    def dim(self):
        return len(self.shape) if self.shape is not None else Unknown("dim")

    def fans(self) -> tuple:
        """(fan_in, fan_out); None where unknown. A layer's weight as torch computes them
        (dims 1 and 0 times the receptive field); a raw Parameter of 3+ dims is a stack of
        matrices used in a matmul (`randn(n_layers, out, in)`), so its fan-in is the last
        dim and its fan-out the one before."""
        s = self.shape
        if not s or len(s) < 2:
            return None, None
        if self.raw:
            fi, fo = s[-1], s[-2]
            return (fi if isinstance(fi, int) else None), (fo if isinstance(fo, int) else None)
        rf = 1
        for d in s[2:]:
            if not isinstance(d, int):
                return None, None
            rf *= d
        fi, fo = s[1], s[0]
        return (fi * rf if isinstance(fi, int) else None), (fo * rf if isinstance(fo, int) else None)


@dataclass(eq=False)
class TensorV:
    """A tensor flowing through `forward` (node: the graph node that produced it) or built in
    `__init__` (ctor: how its values were made, shape when known)."""

    nodes: frozenset = frozenset()  # graph nodes whose output this is (forward)
    shape: tuple | None = None
    ctor: str = "other"  # empty data randn rand zeros ones full other unknown
    std: object = None  # randn(...) * k: std k (float, or Unknown when scaled by unknown)
    value: object = None  # zeros/ones/full: the constant
    param: ParamV | None = None  # `.data` / `.weight` views write through to this parameter
    act_of: frozenset | None = None  # sigmoid(x): x's nodes (to see `x * sigmoid(x)` as SiLU)


@dataclass(eq=False)
class ModuleV:
    """A module instance: its class, evaluated constructor arguments, ordered children and
    parameters, other attributes."""

    kind: str  # canonical dotted class name (`torch.nn.Linear`) or project qualname
    cls: ClassV | None = None  # project class, when it is one
    args: dict = field(default_factory=dict)
    children: dict = field(default_factory=dict)  # name -> ModuleV, registration order
    params: dict = field(default_factory=dict)  # name -> ParamV, registration order
    attrs: dict = field(default_factory=dict)
    act: str | None = None  # activation short name
    loc: tuple | None = None
    plain: bool = False  # an instance of a project class that is not an nn.Module
    may: bool = False  # built behind an unknown condition
    repeated: bool = False  # one evaluated copy stands for N (loop beyond the unroll budget)
    unknowns: list = field(default_factory=list)  # origins of sub-modules we could not build

    def named_modules(self, prefix: str = ""):
        """Pre-order, each module once (torch's `remove_duplicate`: a shared or cyclic
        reference is listed where it is first reached)."""
        seen: set = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            stack.extend(reversed([(f"{name}.{k}" if name else k, c)
                                   for k, c in m.children.items() if isinstance(c, ModuleV)]))

    def post_order(self) -> list:
        """Modules in `apply` order: each child's subtree in order, then the module."""
        out: list = []
        seen: set = set()

        def visit(m):
            seen.add(id(m))
            for c in m.children.values():
                if isinstance(c, ModuleV) and id(c) not in seen:
                    visit(c)
            out.append(m)
        visit(self)
        return out

    def named_parameters(self, prefix: str = ""):
        """Each parameter once: a tied weight is one parameter, named where first reached."""
        seen: set = set()
        for mname, m in self.named_modules(prefix):
            for pname, p in m.params.items():
                if not p.buffer and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mname}.{pname}" if mname else pname), p

    def complete(self) -> bool:
        return all(not m.unknowns for _, m in self.named_modules())


def describe(v) -> str:
    """Short text of a value for messages and debugging."""
    if isinstance(v, ModuleV):
        return v.kind.rsplit(".", 1)[-1]
    if isinstance(v, (ClassV, Ref)):
        return v.name
    return repr(v)


def clone(v, memo=None):
    """A deep copy of an abstract module (`copy.deepcopy(layer)`): modules and parameters
    are copied, classes and source stay shared."""
    memo = {} if memo is None else memo
    if id(v) in memo:
        return memo[id(v)]
    if isinstance(v, ModuleV):
        m = ModuleV(v.kind, v.cls, dict(v.args), {}, {}, {}, v.act, v.loc, v.plain, v.may,
                    v.repeated, list(v.unknowns))
        memo[id(v)] = m
        m.children = {k: clone(c, memo) for k, c in v.children.items()}
        m.params = {k: clone(p, memo) for k, p in v.params.items()}
        m.attrs = {k: clone(a, memo) for k, a in v.attrs.items()}
        return m
    if isinstance(v, ParamV):
        p = ParamV(v.shape, list(v.writes), v.buffer, v.loc, v.raw)
        memo[id(v)] = p
        return p
    if isinstance(v, list):
        return [clone(x, memo) for x in v]
    return v
