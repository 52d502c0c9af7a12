"""Built-in callables: PyTorch layers (with the default init their `reset_parameters` gives),
containers, activations, `nn.Parameter`, tensor constructors, `nn.init.*`, `calculate_gain`,
`math`, `functools.partial`, `copy.deepcopy` and the Python builtins model code uses. Layer
facts come from :mod:`initlint.knowledge`; nothing here is per-model."""

from __future__ import annotations

import builtins
import math

from initlint import knowledge as K
from initlint.evaluate.exprs import known, truth
from initlint.evaluate.values import (
    BoundMethod, ClassV, FuncV, ModuleV, ParamV, PartialV, Ref, TensorV, Unknown, Write, clone,
    is_unknown,
)

_NN = "torch.nn."
_CTORS = {"torch.empty": "empty", "torch.randn": "randn", "torch.rand": "rand",
          "torch.zeros": "zeros", "torch.ones": "ones", "torch.full": "full",
          "torch.eye": "eye", "torch.arange": "data", "torch.linspace": "data",
          "torch.tensor": "data", "torch.as_tensor": "data", "torch.from_numpy": "data",
          "torch.Tensor": "new", "torch.FloatTensor": "new", "torch.LongTensor": "new",
          "torch.zeros_like": "zeros", "torch.ones_like": "ones", "torch.randn_like": "randn",
          "torch.empty_like": "empty", "torch.rand_like": "rand", "torch.full_like": "full"}
_MATH = {"math.sqrt": math.sqrt, "math.log": math.log, "math.exp": math.exp,
         "math.ceil": math.ceil, "math.floor": math.floor, "math.log2": math.log2,
         "math.pow": math.pow, "math.isqrt": math.isqrt, "math.prod": math.prod,
         "math.gcd": math.gcd, "numpy.sqrt": math.sqrt, "numpy.log": math.log,
         "math.tanh": math.tanh, "math.cos": math.cos, "math.sin": math.sin}
_MATH_CONST = {"math.pi": math.pi, "math.e": math.e, "math.inf": math.inf, "numpy.pi": math.pi}
_BASE_OF = (("Conv", "torch.nn._ConvNd"), ("BatchNorm", "torch.nn._BatchNorm"),
            ("InstanceNorm", "torch.nn._InstanceNorm"))
_REPARAMETRIZE = {f"torch.nn.utils.{p}{n}" for p in ("", "parametrizations.")
                  for n in ("weight_norm", "spectral_norm")} | {
    "torch.nn.utils.parametrize.register_parametrization"}
_PURE = {"range", "len", "min", "max", "abs", "int", "float", "str", "bool", "round", "sorted",
         "sum", "any", "all", "divmod", "pow", "tuple", "list", "reversed", "enumerate", "zip",
         "dict", "set", "frozenset", "repr"}


def is_builtin_module(name: str) -> bool:
    return name in K.MODULE_BASES or name.startswith(_NN) and name[len(_NN):][:1].isupper() or \
        name.startswith("transformers.") and name.endswith(("PreTrainedModel", "Conv1D"))


def kind_bases(kind: str) -> set:
    """The names `isinstance` accepts for a built-in layer kind."""
    out = {kind, "torch.nn.Module"}
    short = K.layer_short(kind)
    for sub, base in _BASE_OF:
        if short.startswith(sub) or short.startswith("Lazy" + sub):
            out.add(base)
    if K.is_norm(kind) and "BatchNorm" in short or "InstanceNorm" in short:
        out.add("torch.nn._NormBase")
    return out


class TorchMixin:
    def loc(self, node, fr):
        return (fr.src.path, getattr(node, "lineno", 0), getattr(node, "col_offset", 0))

    def ref_attr(self, ref: Ref, attr: str):
        name = f"{ref.name}.{attr}"
        if name in _MATH_CONST:
            return _MATH_CONST[name]
        if ref.name in self.project.files:  # `from ..ops import misc`: a project module
            return self.project.resolve_dotted(name, self.deps)
        return Ref(name)

    def call_unknown(self, f, args, kwargs, fr, node):
        if self.mode == "forward":
            return self.opaque(args, kwargs, node, fr)
        return Unknown(f"call {getattr(f, 'origin', type(f).__name__)}")

    # ------------------------------------------------------------------ dispatch
    def call_ref(self, name, args, kwargs, fr, node):
        if name.startswith("builtins."):
            return self.call_builtin(name[9:], args, kwargs, fr, node)
        if name in _MATH:
            if all(isinstance(a, (int, float)) for a in args) and not kwargs:
                try:
                    return _MATH[name](*args)
                except (ValueError, OverflowError, TypeError):
                    return Unknown(name)
            return Unknown(name)
        if name in ("collections.OrderedDict", "typing.OrderedDict"):
            return self.call_builtin("dict", args, kwargs, fr, node)
        if name in ("functools.partial",) and args:
            return PartialV(args[0], tuple(args[1:]), dict(kwargs))
        if name in ("copy.deepcopy", "copy.copy") and args:
            return clone(args[0])
        if name in K.CALCULATE_GAIN:
            nl = args[0] if args else kwargs.get("nonlinearity")
            p = args[1] if len(args) > 1 else kwargs.get("param")
            if isinstance(nl, str) and (p is None or isinstance(p, (int, float))):
                g = K.calculate_gain(nl, p)
                return Unknown("gain") if g is None else g
            return Unknown("gain")
        if name in K.INIT_FUNCTIONS:
            return self.init_call(name, K.INIT_FUNCTIONS[name], args, kwargs, fr, node)
        if name in _CTORS:
            return self.tensor_ctor(_CTORS[name], args, kwargs)
        if name in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
            t = args[0] if args else kwargs.get("data", Unknown("data"))
            return self.make_param(t, fr, node)
        if name in K.RUNTIME_ACT_FACTORIES:
            return ModuleV(kind="?act", loc=self.loc(node, fr), may=fr.may)
        if name in ("torch.no_grad", "torch.enable_grad", "torch.inference_mode"):
            return None
        if name in _REPARAMETRIZE and args and isinstance(args[0], ModuleV):
            return args[0]  # weight_norm(conv): the module itself, its weight re-parametrised
        if self.mode == "forward":
            r = self.forward_function(name, args, kwargs, fr, node)
            if r is not NotImplemented:
                return r
        if is_builtin_module(name):
            m = ModuleV(kind=name, loc=self.loc(node, fr), may=fr.may, repeated=fr.summarised)
            self.builtin_init(m, name, args, kwargs, fr, node)
            return m
        return self.call_unknown(Unknown(name), args, kwargs, fr, node)

    def builtin_init(self, m: ModuleV, name: str, args, kwargs, fr, node):
        """What a built-in class's constructor does to `m` (also for project subclasses that
        call `super().__init__(...)`)."""
        short = K.layer_short(name)
        if short in ("Sequential", "ModuleList", "ModuleDict"):
            if short == "Sequential":
                items = args[0] if len(args) == 1 and isinstance(args[0], dict) else list(args)
            else:
                items = args[0] if args else kwargs.get("modules", [])
            pairs = list(items.items()) if isinstance(items, dict) else (
                list(enumerate(items)) if isinstance(items, (list, tuple)) else None)
            if pairs is None:
                m.unknowns.append(f"{short}: {getattr(items, 'origin', 'contents')}")
                return
            for k, v in pairs:
                self.module_setitem(m, str(k), v, fr)
            return
        act = K.ACT_MODULES.get(name)
        if act is not None:
            m.act = act
            slope = args[0] if args else kwargs.get("negative_slope", kwargs.get("init"))
            if isinstance(slope, (int, float)) and act in ("leaky_relu", "prelu"):
                m.args["slope"] = float(slope)
        spec = K.LAYERS.get(name)
        if spec is None:
            return
        cat, names = spec
        bound = dict(zip(names, args))
        bound.update({k: v for k, v in kwargs.items() if k != "**"})
        m.args.update(bound)
        for pname, shape, write in _default_params(name, cat, bound):
            if write is None:
                continue
            p = ParamV(shape=shape, raw=False, loc=m.loc)
            p.writes.append(Write(write[0], "reset_parameters", write[1], m.loc, "default"))
            m.params[pname] = p

    # ------------------------------------------------------------------ python builtins
    def call_builtin(self, name, args, kwargs, fr, node):
        if name in _PURE:
            items = [self.iterate(a) if name in ("enumerate", "zip", "reversed", "list",
                                                 "tuple", "sorted", "sum", "any", "all",
                                                 "set", "frozenset") else a for a in args]
            if name == "len" and args and isinstance(args[0], ModuleV):
                seq = self.iterate(args[0])
                return len(seq) if seq is not None and not any(
                    isinstance(c, ModuleV) and c.repeated for c in seq) else Unknown("len")
            if name in ("max", "min") and len(args) == 1:
                items = [self.iterate(args[0])]
            if name == "dict" and args and isinstance(args[0], dict):
                items = [args[0]]
            if any(i is None for i in items) or not all(known(v) or isinstance(v, (
                    list, tuple, dict)) for v in items):
                return Unknown(name)
            if name in ("any", "all"):
                t = [truth(v) for v in items[0]]
                if None in t:
                    return Unknown(name)
                return builtins.any(t) if name == "any" else builtins.all(t)
            if name == "dict":
                base = dict(items[0]) if items and isinstance(items[0], dict) else (
                    dict(items[0]) if items and all(isinstance(p, tuple) and len(p) == 2 and
                                                    known(p[0]) for p in items[0]) else {})
                base.update({k: v for k, v in kwargs.items() if k != "**"})
                return base
            try:
                out = getattr(builtins, name)(*items, **{k: v for k, v in kwargs.items()
                                                         if known(v)})
            except Exception:  # analysed code's own error: not ours
                return Unknown(name)
            if isinstance(out, range) and len(out) > 10000:
                return Unknown("range")
            if not isinstance(out, (range, int, float, str, bool, list, tuple, dict)):
                out = list(out)
            return out
        if name == "isinstance" and len(args) == 2:
            return self.isinstance(args[0], args[1])
        if name == "type" and len(args) == 1:
            return self.type_of(args[0])
        if name == "getattr" and len(args) >= 2:
            if not isinstance(args[1], str):
                return Unknown("getattr")
            v = self.get_attr(args[0], args[1], fr, node)
            if is_unknown(v) and len(args) > 2:
                return args[2] if not isinstance(args[0], (Ref, Unknown)) else v
            return v
        if name == "hasattr" and len(args) == 2 and isinstance(args[1], str):
            o = args[0]
            if isinstance(o, ModuleV) and not o.cls:
                return args[1] in o.params or args[1] in o.children or args[1] in o.attrs
            return Unknown("hasattr")
        if name == "setattr" and len(args) == 3 and isinstance(args[1], str):
            self.set_attr(args[0], args[1], args[2], fr, node)
            return None
        if name == "super" and len(args) == 2:
            from initlint.evaluate.calls import SuperV

            return SuperV(args[1], args[0]) if isinstance(args[0], ClassV) else Unknown("super")
        if name == "callable" and args:
            return True if isinstance(args[0], (ClassV, FuncV, Ref, PartialV, BoundMethod)) \
                else Unknown(name)
        if name in ("print", "id", "hash", "vars"):
            return None if name == "print" else Unknown(name)
        if name in ("ValueError", "NotImplementedError", "TypeError", "KeyError",
                    "RuntimeError", "Exception", "AssertionError", "AttributeError"):
            return Unknown("exception")
        if name in ("map", "filter") and len(args) == 2:
            items = self.iterate(args[1])
            if items is None:
                return Unknown(name)
            res = [self.call(args[0], [x], {}, fr, node) for x in items]
            return res if name == "map" else [x for x, r in zip(items, res) if truth(r)]
        return Unknown(name)

    def isinstance(self, obj, spec):
        specs = spec if isinstance(spec, (tuple, list)) else (spec,)
        if any(is_unknown(s) for s in specs) or is_unknown(obj):
            return Unknown("isinstance")
        names = self.type_names(obj)
        if names is None:
            return Unknown("isinstance")
        for s in specs:
            if isinstance(s, ClassV) and any(s is c for c in names):
                return True
            if isinstance(s, Ref) and s.name in {getattr(c, "name", None) for c in names}:
                return True
        return False

    def type_names(self, obj):
        """Classes an object is an instance of (ClassV and Ref), or None when unknown."""
        if isinstance(obj, ModuleV):
            if obj.kind == "?act":
                return None
            out = list(obj.cls.mro()) if obj.cls else []
            refs = {b.name for b in out if isinstance(b, Ref)}
            if obj.cls is None:
                refs.add(obj.kind)
            for r in list(refs):
                refs |= kind_bases(r) if is_builtin_module(r) else set()
            return [c for c in out if isinstance(c, ClassV)] + [Ref(r) for r in refs]
        if isinstance(obj, ParamV):
            return [Ref("torch.nn.Parameter"), Ref("torch.Tensor")]
        if isinstance(obj, TensorV):
            return [Ref("torch.Tensor")]
        for t in (bool, int, float, str, list, tuple, dict):
            if type(obj) is t:
                return [Ref(f"builtins.{t.__name__}")] + (
                    [Ref("builtins.int")] if t is bool else [])
        if obj is None:
            return [Ref("builtins.NoneType")]
        if isinstance(obj, ClassV) or isinstance(obj, Ref) and obj.name.rsplit(
                ".", 1)[-1][:1].isupper():  # by naming convention, a class
            return [Ref("builtins.type")]
        if isinstance(obj, FuncV):
            return [Ref("types.FunctionType"), Ref("types.LambdaType")]
        if isinstance(obj, PartialV):
            return [Ref("functools.partial")]
        return None

    def type_of(self, obj):
        if isinstance(obj, ModuleV):
            return obj.cls if obj.cls is not None else Ref(obj.kind)
        names = self.type_names(obj)
        return names[0] if names else Unknown("type")

    # ------------------------------------------------------------------ tensors and params
    def tensor_ctor(self, ctor, args, kwargs):
        if ctor == "new":  # torch.Tensor(...): sizes give uninitialised memory, data is data
            if len(args) == 1 and isinstance(args[0], (list, tuple, TensorV, ParamV)):
                ctor = "data"
            elif args and all(isinstance(a, int) for a in args):
                ctor = "empty"
            else:
                return TensorV(ctor="unknown")
        if ctor == "data":
            src = args[0] if args else None
            return TensorV(shape=getattr(src, "shape", None), ctor="data")
        if ctor.endswith("like") or (args and isinstance(args[0], (TensorV, ParamV))):
            return TensorV(shape=getattr(args[0], "shape", None) if args else None, ctor=ctor,
                           std=1.0 if ctor == "randn" else None)
        dims = args
        if len(args) >= 1 and isinstance(args[0], (list, tuple)):
            dims = args[0]
        if ctor == "full":
            value = args[1] if len(args) > 1 else kwargs.get("fill_value")
            dims = args[0] if args and isinstance(args[0], (list, tuple)) else args[:1]
        elif ctor == "eye":
            dims = (args[0], args[1] if len(args) > 1 else args[0]) if args else ()
        shape = tuple(d if isinstance(d, int) else Unknown("dim") for d in dims) \
            if isinstance(dims, (list, tuple)) else None
        t = TensorV(shape=shape, ctor=ctor)
        if ctor == "randn":
            t.std = 1.0
        elif ctor in ("zeros", "ones"):
            t.value = 0.0 if ctor == "zeros" else 1.0
        elif ctor == "full":
            t.value = value
        return t

    def make_param(self, t, fr, node):
        p = ParamV(loc=self.loc(node, fr))
        if isinstance(t, ParamV):
            return t
        if isinstance(t, TensorV):
            p.shape = t.shape
            self.write_param(p, t, fr, node, via="constructor")
        else:
            p.writes.append(Write("unknown", "nn.Parameter", {}, p.loc, "constructor",
                                  self.certainty(fr)))
        return p

    def write_param(self, p: ParamV, t: TensorV, fr, node, via=None):
        """A tensor's values become the parameter's: `nn.Parameter(t)`, `w.data = t`,
        `copy_(t)`."""
        kind, params = {
            "empty": ("empty", {}), "randn": ("normal", {"mean": 0.0, "std": t.std}),
            "rand": ("uniform", {"a": 0.0, "b": 1.0}), "zeros": ("zero", {}),
            "ones": ("constant", {"val": 1.0}), "full": ("constant", {"val": t.value}),
            "eye": ("eye", {}), "data": ("data", {}),
        }.get(t.ctor, ("unknown", {}))
        if kind == "normal" and t.std is None:
            kind, params = "unknown", {}
        p.writes.append(Write(kind, f"torch.{t.ctor}", params, self.loc(node, fr),
                              via or self.via, self.certainty(fr)))

    def init_call(self, name, sig, args, kwargs, fr, node):
        kind, names, defaults = sig
        target = args[0] if args else kwargs.get("tensor")
        if isinstance(target, TensorV) and target.param is not None:
            target = target.param
        if not isinstance(target, ParamV):
            return target if target is not None else Unknown(name)
        params = dict(defaults)
        params.update(zip(names, args[1:]))
        params.update({k: v for k, v in kwargs.items() if k != "tensor"})
        self.record(target, kind, name, params, fr, node)
        return target

    def record(self, p: ParamV, kind, func, params, fr, node):
        p.writes.append(Write(kind, func, params, self.loc(node, fr), self.via,
                              self.certainty(fr)))


def _default_params(name, cat, a):
    """(param name, shape, (write kind, params) or None) of a built-in layer."""
    short = K.layer_short(name)
    default = ("default", {"a": math.sqrt(5)})
    if cat == "weight":
        if short in ("Linear", "Bilinear") or short.endswith("Conv1D"):
            fi, fo = a.get("in_features"), a.get("out_features")
            yield "weight", (fo, fi), default
            if a.get("bias", True) is not False:
                yield "bias", (fo,), ("default", {})
            return
        k = a.get("kernel_size")
        nd = int(short[-2]) if short[-2:-1].isdigit() else 2
        ks = tuple(k) if isinstance(k, (list, tuple)) else (k,) * nd
        ci, co, g = a.get("in_channels"), a.get("out_channels"), a.get("groups", 1)
        per = ci // g if isinstance(ci, int) and isinstance(g, int) and g else Unknown("groups")
        shape = (ci, co // g if isinstance(co, int) and isinstance(g, int) and g else
                 Unknown("groups")) + ks if "Transpose" in short else (co, per) + ks
        yield "weight", shape, default
        if a.get("bias", True) is not False:
            yield "bias", (co,), ("default", {})
    elif cat == "norm":
        n = a.get("num_features", a.get("num_channels", a.get("normalized_shape")))
        affine = a.get("affine", a.get("elementwise_affine", "InstanceNorm" not in short))
        if affine is False:
            return
        yield "weight", (n,), ("constant", {"val": 1.0})
        if a.get("bias", True) is not False and short != "RMSNorm":
            yield "bias", (n,), ("zero", {})
    elif cat == "embedding":
        yield "weight", (a.get("num_embeddings"), a.get("embedding_dim")), (
            "normal", {"mean": 0.0, "std": 1.0})
    elif cat in ("rnn", "attention"):
        for p in K.param_names(name):
            yield p, None, ("default", {})
