"""Plain data produced by the fact extractor: picklable, cacheable, no syntax trees."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Loc:
    row: int
    col: int
    end_row: int
    end_col: int


@dataclass
class LayerSpec:
    """A module built in `__init__` (or a child of a container)."""

    kind: str | None  # canonical dotted class name, or None if unknown
    loc: Loc
    args: dict = field(default_factory=dict)  # evaluated named arguments (literal only)
    path: str | None = None  # attribute path in the owning class ("fc1", "net.0", "blocks.*")
    act: str | None = None  # activation short name when this is an activation module
    slope: float | None = None
    runtime: bool = False  # chosen at run time (string, getattr, ACT2FN, IfExp of different kinds)
    runtime_act: bool = False  # ... and it is certainly an activation
    children: list["LayerSpec"] | None = None  # Sequential/ModuleList children in order
    container: str | None = None  # "sequential" | "list" | "dict"
    repeat: int | None = None  # repetition count for loop-built children (None: unknown)
    repeated: bool = False
    factory: str | None = None  # project helper function that built it (resolved in the index)
    from_param: str | None = None  # class taken from this constructor argument's default
    wrapped_act: str | None = None  # activation carried inside a wrapper (ConvNormAct)
    uid: int = 0
    pretrained: bool = False  # built with pretrained weights (`from_pretrained`, `weights=`)


@dataclass
class Filter:
    """Which modules/parameters a loop or applied function selects."""

    scope: str  # modules | children | apply | named_parameters | parameters | named_modules
    subpath: str = ""  # `self.net.modules()` -> "net"
    types: tuple[str, ...] | None = None  # canonical kinds or project class names; None: any
    negated: bool = False
    name_test: tuple[str, str] | None = None  # ("eq"|"endswith"|"startswith"|"in", text)
    classname_sub: str | None = None  # `'Conv' in m.__class__.__name__`
    identity: str | None = None  # `if m is self.final_conv`
    identity_uid: int = 0  # `if m is final_conv` (a local layer)
    exclude_uid: int = 0  # the `else` of such a test
    exclude_identity: str | None = None
    filter_loc: Loc | None = None  # the `if` line
    reads: tuple = ()  # attributes read from the selected module (`m.stddev`, hasattr(m, ...))


@dataclass
class InitOp:
    kind: str  # xavier kaiming normal uniform constant zero orthogonal copy rescale lecun eye dirac
    func: str  # as written
    params: dict
    loc: Loc
    target: str  # "attr" | "filter" | "param"
    path: str = ""  # attr path for "attr"; subpath for "filter"; param name for "param"
    param: str = "weight"  # weight | bias | name of raw parameter | "*"
    filter: Filter | None = None
    method: str = "__init__"
    conditional: bool = False
    flag: str | None = None
    order: int = 0
    via: str | None = None  # "apply(_init_weights)", "modules() loop", "reset_parameters()"
    layer_uid: int = 0  # for ops on local layers before they get a path
    std_fan_gain: float | None = None  # std written as sqrt(K/fan)
    symbolic: bool = False  # an argument that matters is not a literal
    src: str = ""  # file the statement is in
    deliberate: bool = False  # a comment at the init site says the choice is deliberate


@dataclass
class ParamSpec:
    name: str
    loc: Loc
    ctor: str  # empty | randn | rand | zeros | ones | full | tensor | other
    shape: tuple | None = None
    scaled: bool = False
    is_buffer: bool = False


@dataclass
class Node:
    id: int
    kind: str  # input layer act norm add mul module output opaque
    ref: str | None = None  # layer path, or act short name for functional acts
    act: str | None = None
    slope: float | None = None
    runtime: bool = False
    loc: Loc | None = None
    param: str | None = None  # the activation class came from this constructor argument's default


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)
    residual_adds: list[tuple[int, list[int], list[int]]] = field(default_factory=list)
    conditional_adds: list[int] = field(default_factory=list)  # adds behind an `if` / IfExp


class _SortedSets:
    """Pickles with its set fields as sorted lists: the same facts give the same bytes in
    every process (set order follows string hashing, which differs per process), so a digest
    of the pickled facts says whether a file's facts changed (the project-join memo)."""

    _SET_FIELDS: tuple[str, ...] = ()

    def __getstate__(self):
        state = dict(self.__dict__)
        for name in self._SET_FIELDS:
            state[name] = sorted(state[name], key=repr)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in self._SET_FIELDS:
            self.__dict__[name] = set(state[name])


@dataclass
class FunctionFacts:
    name: str
    qualname: str
    loc: Loc
    ops: list[InitOp] = field(default_factory=list)
    returns_kind: str | None = None
    returns_spec: LayerSpec | None = None
    is_method: bool = False
    called_methods: list[str] = field(default_factory=list)
    names: dict = field(default_factory=dict)  # name -> times loaded in the body (IL401 liveness)
    nested_init: bool = False  # a function defined inside it initializes weights
    returns_value: bool = False  # has a `return <value>` (a factory, not an init procedure)


@dataclass
class ClassFacts(_SortedSets):
    _SET_FIELDS = ("touched", "self_refs")

    name: str
    qualname: str
    module: str
    loc: Loc
    bases: list[str]
    layers: dict[str, LayerSpec] = field(default_factory=dict)
    top: list[str] = field(default_factory=list)
    params: dict[str, ParamSpec] = field(default_factory=dict)
    ops: list[InitOp] = field(default_factory=list)  # in effect order for __init__
    methods: dict[str, FunctionFacts] = field(default_factory=dict)
    forward: Graph | None = None
    forward_ops: list[InitOp] = field(default_factory=list)
    calls_post_init: bool = False
    init_calls: list[str] = field(default_factory=list)  # self.X() called from __init__
    applied: list[str] = field(default_factory=list)  # names given to self.apply in __init__
    referenced_classes: list[str] = field(default_factory=list)  # names used in __init__
    flag_zero_bn: bool = False
    unknown_attrs: list[str] = field(default_factory=list)  # modules we could not resolve
    touched: set = field(default_factory=set)  # self.X passed to some call outside forward
    self_refs: set = field(default_factory=set)  # self.X used in any method (X: attr or method)
    init_params: list = field(default_factory=list)  # __init__ parameter names, after self
    overrides: list = field(default_factory=list)  # (layer path, attr, Loc): self.conv1.stddev = x
    loaded: list = field(default_factory=list)  # (layer path, row): self.X.load_state_dict(...)


@dataclass
class FileFacts(_SortedSets):
    _SET_FIELDS = ("refs", "free_refs")

    path: str
    module: str
    classes: list[ClassFacts] = field(default_factory=list)
    functions: dict[str, FunctionFacts] = field(default_factory=dict)
    refs: set = field(default_factory=set)  # identifiers used in Load context
    free_refs: set = field(default_factory=set)  # ... not only as a name inside a function body
    imports: dict = field(default_factory=dict)
    error: tuple | None = None  # (row, col, message) when the file could not be parsed
    # `model = Net(); model.apply(init_fn)` outside any class: (class name, InitOp "apply")
    external_applies: list = field(default_factory=list)
    # a slice written in place, then covered by a later write in the same block (IL402)
    dead_slices: list = field(default_factory=list)
    # callee (resolved name) -> [max positional args, sorted keyword names ("**" for **kwargs)]
    calls: dict = field(default_factory=dict)
