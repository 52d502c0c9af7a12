"""Measurement inside the probe's child process. Imports torch: never import this from the
parent (`initlint.probe.cli`, `runner`, `report`, ...).

Statistics are computed inside forward hooks under `torch.no_grad()` and kept as 0-d tensors
(no activation is kept, no device sync per layer); they are turned into Python numbers once,
after the backward pass.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import weakref

import torch
from torch import nn

from initlint.probe.stats import (Deferred, Scratch, count_zeros, dense, fused_sq_norms, quantiles,
                                  rows_identical, spread, std_mean)

RELU_FAMILY = {"ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU"}
# other outputs whose exact zeros the table shows (activations, pooling of them)
ZERO_COUNTED = {"GELU", "SiLU", "Hardswish", "ELU", "SELU", "CELU", "Mish", "Tanh", "Sigmoid",
                "Hardtanh", "Softplus", "MaxPool1d", "MaxPool2d", "MaxPool3d", "Threshold"}
# activation type -> threshold on |y| (after centering) above which an output counts as saturated
SATURATING = {"Tanh": (0.0, 0.99), "Sigmoid": (0.5, 0.49), "Hardtanh": (0.0, None),
              "Softsign": (0.0, 0.9)}
NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
CONV_TRANSPOSE = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
# layers whose ≥2-D weight has one row per output unit (rows identical = units identical)
UNIT_ROW_TYPES = (nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.RNNBase,
                  nn.RNNCellBase) + CONV_TRANSPOSE


class ProbeError(Exception):
    """A failure with a prepared message (stage, message, hint)."""

    def __init__(self, stage: str, message: str, hint: str = ""):
        super().__init__(message)
        self.stage = stage
        self.message = message
        self.hint = hint


class _Stop(BaseException):
    """Raised from a hook to cut a forward pass short (LSUV); a BaseException so that a
    user's `except Exception` does not swallow it."""


def first_tensor(obj, depth: int = 0):
    if isinstance(obj, torch.Tensor):
        return obj
    if depth > 3:
        return None
    if isinstance(obj, (tuple, list)):
        for item in obj:
            t = first_tensor(item, depth + 1)
            if t is not None:
                return t
    elif isinstance(obj, dict) or hasattr(obj, "values") and callable(obj.values):
        try:
            values = list(obj.values())
        except Exception:
            return None
        for item in values:
            t = first_tensor(item, depth + 1)
            if t is not None:
                return t
    return None


def direct_params(m: nn.Module):
    return list(m.named_parameters(recurse=False))


def main_weight(m: nn.Module):
    """(local name, parameter) of a module's weight: `weight`, else its first ≥2-D parameter,
    else its first parameter; None without parameters."""
    params = direct_params(m)
    if not params:
        return None
    for n, p in params:
        if n == "weight":
            return n, p
    for n, p in params:
        if p.dim() >= 2:
            return n, p
    return params[0]


def is_matrix(p) -> bool:
    """A weight with at least two dimensions larger than 1 (a per-channel scale of shape
    (C, 1, 1) or a (1, 1, D) token is not one)."""
    return sum(1 for s in p.shape if s > 1) >= 2


def is_weight_layer(m: nn.Module) -> bool:
    """A module that multiplies its input by a weight matrix of its own: a leaf module with a
    matrix parameter, or a torch.nn module with one (nn.MultiheadAttention). A container of
    the user's with parameters of its own (a ViT's `pos_embed`, a block's layer scale) is
    not: its output is whatever its children compute."""
    if not any(is_matrix(p) for _, p in direct_params(m)):
        return False
    leaf = next(m.children(), None) is None
    return leaf or (type(m).__module__ or "").startswith("torch.nn")


def is_norm(m: nn.Module) -> bool:
    name = type(m).__name__
    return isinstance(m, NORM_TYPES) or ("Norm" in name and not is_weight_layer(m))


def fan_in_of(p) -> int | None:
    if p.dim() < 2:
        return None
    rf = 1
    for s in p.shape[2:]:
        rf *= int(s)
    return int(p.shape[1]) * rf


# ---------------------------------------------------------------------------- the input

def parse_shape(text) -> list[int]:
    if isinstance(text, (list, tuple)):
        return [int(v) for v in text]
    return [int(v) for v in str(text).replace("x", ",").split(",") if v.strip()]


def _describe(name: str, m: nn.Module, batch: int):
    """(shape, kind, high, note) for an input fed to module `m`, or None if not inferable."""
    label = f"`{name}` ({type(m).__name__}"
    if isinstance(m, nn.Linear):
        return [batch, m.in_features], "float", None, f"{label}, in_features={m.in_features})"
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d) + CONV_TRANSPOSE):
        d = len(m.kernel_size)
        side = 32 if d < 3 else 16
        return ([batch, m.in_channels] + [side] * d, "float", None,
                f"{label}, in_channels={m.in_channels}, spatial size {side} assumed)")
    if isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
        return ([batch, 16], "tokens", m.num_embeddings,
                f"{label}, {m.num_embeddings} tokens; 16 random token ids per sample)")
    if isinstance(m, nn.RNNBase):
        shape = [batch, 16, m.input_size] if m.batch_first else [16, batch, m.input_size]
        return shape, "float", None, f"{label}, input_size={m.input_size}, 16 time steps)"
    if isinstance(m, nn.modules.batchnorm._NormBase):
        d = {"BatchNorm1d": 0, "BatchNorm2d": 2, "BatchNorm3d": 3, "InstanceNorm1d": 1,
             "InstanceNorm2d": 2, "InstanceNorm3d": 3}.get(type(m).__name__, 2)
        side = 32 if d < 3 else 16
        return ([batch, m.num_features] + [side] * d, "float", None,
                f"{label}, num_features={m.num_features})")
    if isinstance(m, nn.LayerNorm):
        return ([batch] + list(m.normalized_shape), "float", None,
                f"{label}, normalized_shape={tuple(m.normalized_shape)})")
    if isinstance(m, nn.GroupNorm):
        return ([batch, m.num_channels, 32, 32], "float", None,
                f"{label}, num_channels={m.num_channels})")
    return None


def first_layer(model: nn.Module):
    """The first module (registration order) that owns parameters, skipping containers whose
    own parameters say nothing about the input (a ViT's root-level `pos_embed`)."""
    candidates = []
    for name, m in model.named_modules():
        if not direct_params(m):
            continue
        leaf = next(m.children(), None) is None
        if _describe(name, m, 1) is not None:
            return name, m
        candidates.append((name, m, leaf))
        if leaf:
            return name, m
    return (candidates[0][0], candidates[0][1]) if candidates else (None, None)


def _forward_params(model: nn.Module) -> tuple[set[str], bool]:
    """The names `model.forward` takes, and whether it takes **kwargs."""
    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return set(), True
    names = {n for n, p in sig.parameters.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


def _declared_image(model: nn.Module):
    """(channels, height, width, where) from what the model says about its input: timm's
    `pretrained_cfg`/`default_cfg` input_size, an `image_size`/`img_size` attribute (torchvision
    ViT, timm), a Hugging Face `config.image_size`; None if it says nothing."""
    for attr in ("pretrained_cfg", "default_cfg"):
        cfg = getattr(model, attr, None)
        size = cfg.get("input_size") if isinstance(cfg, dict) else None
        if isinstance(size, (tuple, list)) and len(size) == 3:
            return int(size[0]), int(size[1]), int(size[2]), f"`{attr}['input_size']`"
    conf = getattr(model, "config", None)
    for owner, where in ((model, "model."), (conf, "config.")):
        if owner is None:
            continue
        for attr in ("image_size", "img_size"):
            v = getattr(owner, attr, None)
            if isinstance(v, int) and v > 0:
                h = w = v
            elif isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(i, int) for i in v):
                h, w = v
            else:
                continue
            c = getattr(owner, "num_channels", None) or getattr(owner, "in_chans", None)
            if not isinstance(c, int):
                name, m = first_layer(model)
                c = getattr(m, "in_channels", 3) if m is not None else 3
            return int(c), int(h), int(w), f"`{where}{attr}`"
    return None


def _declared_tokens(model: nn.Module):
    """(vocab size, sequence length, where) from a Hugging Face style `config.vocab_size`."""
    conf = getattr(model, "config", None)
    vocab = getattr(conf, "vocab_size", None) if conf is not None else None
    if not isinstance(vocab, int) or vocab < 1:
        return None
    longest = None
    for attr in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
        v = getattr(conf, attr, None)
        if isinstance(v, int) and v > 0:
            longest = v
            break
    return vocab, min(16, longest or 16), "`config.vocab_size`"


BIG_IMAGE = 128  # a declared image side from which the default batch is capped
BIG_IMAGE_BATCH = 8


def build_input(model: nn.Module, shape, batch: int, device, batch_given: bool = False):
    """The random input batch and how it was chosen: (Batch, info)."""
    dtype = torch.float32
    for p in model.parameters():
        if p.is_floating_point():
            dtype = p.dtype
            break
    names, var_kw = _forward_params(model)
    if not shape:
        tok = _declared_tokens(model)
        if tok is not None and ("input_ids" in names or var_kw):
            vocab, length, where = tok
            ids = torch.randint(0, vocab, (batch, length), device=device)
            kwargs = {"input_ids": ids}
            note = f"random token ids below {vocab} ({where}), {length} per sample"
            if "attention_mask" in names:
                mask = torch.ones(batch, length, dtype=torch.long, device=device)
                mask[batch // 2:, length - length // 4:] = 0  # half the samples padded
                kwargs["attention_mask"] = mask
                note += ", an attention mask with padding on half the samples"
            return Batch((), kwargs), {"input_shape": [batch, length], "input_kind": "tokens",
                                       "input_note": note, "input_dtype": "int64"}
        img = _declared_image(model)
        if img is not None:
            c, h, w, where = img
            if max(h, w) >= BIG_IMAGE and not batch_given and batch > BIG_IMAGE_BATCH:
                batch = BIG_IMAGE_BATCH
                where += f"; batch {batch} for an image this size (--batch-size to change)"
            x = torch.randn([batch, c, h, w], device=device, dtype=dtype)
            kw = "pixel_values" if "pixel_values" in names and "x" not in names else None
            b = Batch((), {kw: x}) if kw else Batch((x,))
            return b, {"input_shape": [batch, c, h, w], "input_kind": "float",
                       "input_note": f"declared by the model ({where})",
                       "input_dtype": str(x.dtype).replace("torch.", "")}
    name, m = first_layer(model)
    if shape:
        kind, high, note = "float", None, "given with --input-shape"
        if m is not None and isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
            kind, high = "tokens", m.num_embeddings
            note = f"given with --input-shape; random token ids below {high} for `{name}`"
    else:
        if m is None:
            raise ProbeError("input", "cannot infer the input shape: the model has no "
                             "parameters to infer it from",
                             "pass --input-shape, e.g. --input-shape 64,3,32,32, or --inputs "
                             "module:make_batch")
        desc = _describe(name or "(root)", m, batch)
        if desc is None:
            raise ProbeError("input", f"cannot infer the input shape: the first layer "
                             f"`{name or '(root)'}` is of type {type(m).__name__}, whose "
                             f"input shape the probe does not know",
                             "pass --input-shape with the batch size first, e.g. "
                             f"--input-shape {batch},3,224,224, or --inputs module:make_batch")
        shape, kind, high, note = desc
        note = "inferred from " + note
    shape = [int(s) for s in shape]
    if kind == "tokens":
        x = torch.randint(0, max(int(high), 1), shape, device=device)
    else:
        x = torch.randn(shape, device=device, dtype=dtype)
    return Batch((x,)), {"input_shape": shape, "input_kind": kind, "input_note": note,
                         "input_dtype": str(x.dtype).replace("torch.", "")}


def to_device(obj, device, dtype=None, depth: int = 0):
    if isinstance(obj, torch.Tensor):
        t = obj.to(device)
        if dtype is not None and t.is_floating_point() and t.dtype != dtype:
            t = t.to(dtype)
        return t
    if depth > 4:
        return obj
    if isinstance(obj, tuple):
        return tuple(to_device(v, device, dtype, depth + 1) for v in obj)
    if isinstance(obj, list):
        return [to_device(v, device, dtype, depth + 1) for v in obj]
    if isinstance(obj, dict):
        return {k: to_device(v, device, dtype, depth + 1) for k, v in obj.items()}
    return obj


def batch_from(value, model: nn.Module, device, where: str) -> tuple[Batch, dict]:
    """What a `--inputs` function returned, as the call: a tensor is model(x); a tuple or list
    model(*args); an (args, kwargs) pair model(*args, **kwargs); a dict model(**d) when its keys
    are forward's parameters, else model(d)."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    value = to_device(value, device, dtype)
    names, var_kw = _forward_params(model)
    if isinstance(value, torch.Tensor):
        b, how = Batch((value,)), "model(x)"
    elif (isinstance(value, (tuple, list)) and len(value) == 2 and
          isinstance(value[0], (tuple, list)) and isinstance(value[1], dict)):
        b, how = Batch(value[0], value[1]), "model(*args, **kwargs)"
    elif isinstance(value, dict):
        if value and all(isinstance(k, str) for k in value) and (
                var_kw or set(value) <= names) and not (len(names) == 1 and set(value) - names):
            b, how = Batch((), value), f"model({', '.join(f'{k}=...' for k in value)})"
        else:
            b, how = Batch((value,)), "model(batch) with a dict"
    elif isinstance(value, (tuple, list)):
        b, how = Batch(value), f"model(*batch) with {len(value)} arguments"
    else:
        raise ProbeError("input", f"{where} returned a {type(value).__name__}, not a tensor, "
                         "tuple, list or dict",
                         "return the batch the model is called with: a tensor, a tuple of "
                         "arguments, a dict of keyword arguments, or (args, kwargs)")
    ts = b.tensors()
    if not ts:
        raise ProbeError("input", f"{where} returned no tensor", "return the model's inputs")
    first = ts[0]
    return b, {"input_shape": list(first.shape), "input_kind": (
        "float" if first.is_floating_point() else "tokens"),
        "input_note": f"from {where}: {how}, {len(ts)} tensor{'s' if len(ts) != 1 else ''}",
        "input_dtype": str(first.dtype).replace("torch.", "")}


# ---------------------------------------------------------------------------- measuring

def _identity(t) -> tuple:
    """Same key, same values: one storage address, dtype and version (shared by views), and
    either the same geometry or, for dense tensors, the same element count — a permuted or
    reshaped view of a dense tensor holds the very same elements, so its std, mean and zero
    count are the same numbers (a ConvNeXt block's `dwconv(x).permute(0, 2, 3, 1)` into its
    LayerNorm)."""
    if dense(t):
        return (t.data_ptr(), t.dtype, t.numel(), t._version, t.device)
    return (t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()), t._version, t.device)


class Recorder:
    """Forward hooks on every leaf module (and every module with parameters of its own)."""

    def __init__(self, model: nn.Module, defer: Deferred, tracer=None, batch: int = 0):
        self.events: list[dict] = []
        self.defer = defer
        self.handles = []
        self.calls: dict[str, int] = {}
        self.tracer = tracer
        self.batch = batch
        # statistics of tensors already measured as some layer's output, by identity: a
        # weight layer's input is most often the previous layer's output (a ReLU's), and
        # is then not read again. The weak reference proves the tensor still lives, so its
        # address cannot have been reused; the version counter, that no in-place op
        # changed it since.
        self.seen: dict[tuple, tuple] = {}
        self.scratch = Scratch()
        for name, m in model.named_modules():
            leaf = next(m.children(), None) is None
            if not (leaf or direct_params(m)):
                continue
            self.handles.append(m.register_forward_hook(self._make(name, m)))

    def remove(self):
        for h in self.handles:
            h.remove()
        self.handles = []

    def _in_stats(self, ev, inputs, add):
        xi = first_tensor(inputs)
        if xi is None or not xi.is_floating_point() or xi.numel() == 0:
            return
        ev["in_numel"] = xi.numel()
        known = self.seen.get(_identity(xi))
        if known is not None and known[0]() is not None and known[2] is not None:
            ev["i_in_std"], ev["i_in_z"] = known[1], known[2]
        else:
            xd = xi.detach()
            if xd.dtype in (torch.float16, torch.bfloat16):
                xd = xd.float()
            s, mu = std_mean(xd, self.scratch)
            ev["i_in_std"] = add(s)
            ev["i_in_z"] = add(count_zeros(xd, mu, self.scratch))

    def _make(self, name: str, m: nn.Module):
        tname = type(m).__name__
        weight = is_weight_layer(m)
        norm = is_norm(m)
        sat = SATURATING.get(tname)
        if tname == "Hardtanh" and sat is not None:
            sat = (0.0, float(getattr(m, "max_val", 1.0)) * 0.999)
        relu = tname in RELU_FAMILY
        zeros_too = tname in ZERO_COUNTED
        add = self.defer.add
        tracer = self.tracer

        def hook(mod, inputs, output):
            call = self.calls.get(name, 0) + 1
            self.calls[name] = call
            ev = {"name": name, "type": tname, "call": call, "weight": weight, "relu": relu,
                  "norm": norm}
            self.events.append(ev)
            t = first_tensor(output)
            if t is None or not t.is_floating_point() or t.numel() == 0:
                return
            if tracer is not None:
                ev["node"] = tracer.node_of(t)
            # the hook's own ops bypass the tracer (and any torch-function override) entirely
            with torch._C.DisableTorchFunction(), torch.no_grad():
                td = t.detach()
                if td.dtype in (torch.float16, torch.bfloat16):
                    td = td.float()
                s, mu = std_mean(td, self.scratch)
                ev["numel"] = td.numel()
                ev["i_std"], ev["i_mean"] = add(s), add(mu)
                # exact zeros where the verdicts read them (ReLU-family outputs, and weight
                # layers' inputs below); a weight layer's own output: estimated from the
                # quantile sample; elsewhere the table shows "—"
                ev["i_z"] = add(count_zeros(td, mu, self.scratch)) if relu or zeros_too else None
                self.seen[_identity(t)] = (weakref.ref(t), ev["i_std"], ev["i_z"], ev["i_mean"])
                if weight or norm:
                    self._in_stats(ev, inputs, add)
                if norm and tracer is not None:
                    xi = first_tensor(inputs)
                    ev["in_node"] = tracer.node_of(xi) if xi is not None else None
                if weight and td.dim() >= 2 and td.shape[0] == self.batch > 1:
                    ev["i_spread"] = add(spread(td))
                if weight:
                    qs, zeros, n = quantiles(td)
                    ev["i_q"] = self.defer.add_vec(qs)
                    ev["i_z"], ev["numel_z"] = add(zeros), n
                if sat is not None:
                    center, thr = sat
                    ev["i_sat"] = add(torch.count_nonzero((td - center).abs() >= thr))
        return hook


class Batch:
    """What the model is called with: model(*args, **kwargs)."""

    def __init__(self, args=(), kwargs=None):
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})

    def tensors(self):
        out = []

        def walk(o, depth=0):
            if isinstance(o, torch.Tensor):
                out.append(o)
            elif depth < 4 and isinstance(o, (list, tuple)):
                for v in o:
                    walk(v, depth + 1)
            elif depth < 4 and isinstance(o, dict):
                for v in o.values():
                    walk(v, depth + 1)
        walk(list(self.args))
        walk(self.kwargs)
        return out

    def size(self) -> int:
        for t in self.tensors():
            if t.dim():
                return int(t.shape[0])
        return 1


def _as_batch(x) -> Batch:
    return x if isinstance(x, Batch) else Batch((x,))


def cotangent(t, seed: int):
    """A fixed, seeded N(0, 1) direction for the backward pass, divided by the output's RMS
    (so a huge output keeps finite gradients): every layer gets a real gradient, also behind a
    normalization or a zero-initialized head, where a loss of the output's own scale is flat."""
    gen = torch.Generator(device=t.device)
    gen.manual_seed(int(seed) % (2 ** 63))
    g = torch.randn(t.shape, generator=gen, device=t.device, dtype=torch.float32)
    with torch.no_grad():
        rms = t.detach().float().pow(2).mean().sqrt()
    r = float(rms)
    if math.isfinite(r) and r > 0:
        g = g / r
    return g.to(t.dtype)


def _loss(out):
    """The scale-free loss of probe v1 (mean(y²)/mean(y²).detach()); kept for the benchmark's
    bare forward+backward reference."""
    o = out.double()
    denom = o.detach().pow(2).mean()
    if bool(torch.isfinite(denom)) and float(denom) > 0:
        return o.pow(2).mean() / denom
    return o.pow(2).mean()


def input_states(batch: Batch) -> dict:
    """The probe's input, as moments for the prediction: (E[x²], E[x]) per float tensor."""
    out = {}
    for k, t in enumerate(batch.tensors()):
        if t.numel() and (t.is_floating_point() or t.dtype in (torch.int64, torch.int32,
                                                                 torch.bool, torch.int8)):
            with torch.no_grad():
                td = t.detach().float()  # integer ids and masks too (a mask is arithmetic)
                out[k] = (float(td.pow(2).mean()), float(td.mean()))
    return out


def measure(model: nn.Module, x, *, backward: bool = True, seed: int = 0, static=None,
            predict: bool = True, loss_fn=None) -> dict:
    """One forward (+ backward) in train mode with hooks; returns plain-Python statistics.
    `x`: a tensor or a `Batch`. `static`: param name -> (E[w²], E[w], init text) from the
    static analysis, for the prediction."""
    from initlint.probe import predict as P
    from initlint.probe.trace import Tracer

    batch = _as_batch(x)
    defer = Deferred()
    params = list(model.named_parameters())
    # a re-init inside forward changes the sum (compared exactly: the same reduction over the
    # same values gives the same bits) and, unless done through `.data`, the version counter
    before = [(defer.add(p.detach().sum()), p._version) for _, p in params]
    for _, p in params:
        p.grad = None
    model.train()
    tracer = Tracer(model) if predict else None
    inputs = batch.tensors()
    in_moments = input_states(batch) if predict else {}
    if tracer is not None:
        for k, t in enumerate(inputs):
            if k in in_moments:
                q, m = in_moments[k]
                tracer.add_source(t, P.State(q, m * m, m))
    rec = Recorder(model, defer, tracer, batch.size())
    warnings: list[str] = []
    try:
        if tracer is not None:
            with tracer:
                out = model(*batch.args, **batch.kwargs)
        else:
            out = model(*batch.args, **batch.kwargs)
    finally:
        rec.remove()
    t = first_tensor(out)
    output: dict = {"type": type(out).__name__}
    loss_i = None
    if t is None:
        warnings.append(f"the model returned {type(out).__name__} with no tensor in it: "
                        "output and gradients not measured")
    else:
        output["shape"] = list(t.shape)
        if t.is_floating_point() and t.numel() > 0:
            with torch.no_grad():
                td = t.detach().float()
                known = rec.seen.get(_identity(t))
                if known is not None and known[0]() is not None:  # the last layer's output
                    output["i_std"], output["i_mean"] = known[1], known[3]
                else:
                    s, mu = std_mean(td, rec.scratch)
                    output["i_std"], output["i_mean"] = defer.add(s), defer.add(mu)
                if td.dim() >= 1 and td.shape[0] > 1:
                    output["i_batch_std"] = defer.add(spread(td))
                    output["i_abs_max"] = defer.add(td[:4].abs().max())
            rec.scratch.bufs.clear()  # not held through the backward pass, where memory peaks
            if backward and loss_fn is not None:
                loss = loss_fn(out)
                if not (isinstance(loss, torch.Tensor) and loss.numel() == 1):
                    raise ProbeError("loss", "the --loss function must return a scalar tensor, "
                                     f"got {type(loss).__name__}",
                                     "return e.g. out.logits.pow(2).mean()")
                loss_i = defer.add(loss.detach().float().reshape(()))
                if loss.requires_grad:
                    loss.backward()
                else:
                    warnings.append("the loss does not require grad: gradients not measured")
                del loss
            elif backward and t.requires_grad:
                # the scalar <output, g>: its gradient with respect to the output is g (a
                # backward with an explicit gradient would import sympy, over a second)
                g = cotangent(t, seed)
                loss = (t * g).sum()
                loss_i = defer.add(loss.detach().float())
                loss.backward()
                del g, loss
            elif backward:
                warnings.append("the model output does not require grad: gradients not measured")
        else:
            warnings.append(f"the model output is a {str(t.dtype).replace('torch.', '')} tensor: "
                            "gradients not measured")
    del out, t
    pstats = _param_stats(model, params, before, defer)
    values = defer.resolve()
    data = _finish(rec.events, pstats, output, values, loss_i, warnings)
    if tracer is not None:
        _add_prediction(data, rec.events, tracer, model, static or {})
    return data


def _param_stats(model: nn.Module, params: list, before: list, defer: Deferred) -> list[dict]:
    """Per parameter, after the backward pass: its moments, whether forward changed it,
    whether its rows are identical, its gradient's moments (deferred indices)."""
    modules = dict(model.named_modules())
    pstats = []
    sq_todo: list = []
    with torch.no_grad():
        for (pname, p), (b_sum, b_version) in zip(params, before):
            owner_name, _, local = pname.rpartition(".")
            owner = modules.get(owner_name)
            d = p.detach()
            st: dict = {"name": pname, "module": owner_name, "local": local,
                        "module_type": type(owner).__name__ if owner is not None else None,
                        "shape": list(d.shape), "numel": d.numel(), "fan_in": fan_in_of(d),
                        "b_sum": b_sum, "version_changed": p._version != b_version,
                        "matrix": is_matrix(d)}
            pstats.append(st)
            if d.numel() == 0:
                continue
            dd = d.float() if d.dtype in (torch.float16, torch.bfloat16) else d
            if dd.is_floating_point():
                # E[w²] from one fused norm over all parameters (below), the mean from the sum
                # that also tells whether forward changed the parameter
                sq_todo.append((st, "i_sq", dd))
                st["i_sum"] = defer.add(d.sum())  # the same reduction as `b_sum` before
                if d.dim() >= 2 and d.numel() > 1:
                    w = d.transpose(0, 1) if isinstance(owner, CONV_TRANSPOSE) else d
                    w2 = w.reshape(w.shape[0], -1)
                    st["rows"] = int(w2.shape[0])
                    st["unit_rows"] = isinstance(owner, UNIT_ROW_TYPES)
                    same, mn, mx = rows_identical(w2)
                    st["i_rows_same"] = same if same is False else defer.add(same)
                    if mn is not None:
                        st["i_min"], st["i_max"] = defer.add(mn), defer.add(mx)
            g = p.grad
            if g is not None and g.is_floating_point():
                gd = g.detach().float() if g.dtype in (torch.float16, torch.bfloat16) else g.detach()
                sq_todo.append((st, "i_grad_sq", gd))
                st["i_grad_sum"] = defer.add(gd.sum())
        fused_sq_norms(sq_todo, defer)
    return pstats


INIT_MISMATCH = 2.0  # built std vs the static analysis's std, beyond which it is reported


def init_mismatches(params: list[dict], static: dict) -> list[dict]:
    """Weights whose built std differs from what the static analysis reads for them by more
    than 2×: the analysis misses an init (or a later rescale) there."""
    out = []
    for row in params:
        hit = static.get(row["name"])
        if hit is None or "std" not in row or not row.get("matrix"):
            continue
        want = math.sqrt(max(hit[0] - hit[1] ** 2, 0.0))
        got = row["std"]
        if not (math.isfinite(got) and math.isfinite(want)):
            continue
        lo, hi = min(want, got), max(want, got)
        if hi > 0 and (lo == 0 or hi / lo > INIT_MISMATCH):
            out.append({"param": row["name"], "static": hit[2], "static_std": want,
                        "built_std": got})
    return out


def _add_prediction(data: dict, events: list, tracer, model, static: dict) -> None:
    """Predicted output std per layer row (`predicted`, `predicted_from`), from the init
    moments of the parameters (static where the analysis resolves the init)."""
    from initlint.probe import predict as P

    pm, src, shapes = {}, {}, {}
    for row in data["params"]:
        if "std" not in row:
            continue
        shapes[row["name"]] = row["shape"]
        hit = static.get(row["name"])
        if hit is not None:
            pm[row["name"]] = (hit[0], hit[1])
            src[row["name"]] = "static"
        else:
            pm[row["name"]] = (row["std"] ** 2 + row["mean"] ** 2, row["mean"])
            src[row["name"]] = "model"
    with torch.no_grad():
        for name, b in model.named_buffers():
            if b.is_floating_point() and b.numel():
                bd = b.detach().float()
                pm.setdefault(name, (float(bd.pow(2).mean()), float(bd.mean())))
                shapes.setdefault(name, list(b.shape))
    try:
        preds = P.predict(tracer, [ev.get("node") for ev in events], tracer.sources, pm,
                          shapes)
    except Exception as exc:  # a gap in the prediction must not cost the measurement
        data["warnings"].append(f"no prediction: {type(exc).__name__}: {exc}")
        return
    from initlint.probe.trace import residual_ends, residual_operands

    ends = residual_ends(tracer.ops, [ev.get("node") for ev in events if ev["weight"]])
    added = residual_operands(tracer.ops)
    for row, ev in zip(data["layers"], events):
        row["residual_end"] = bool(ev["weight"] and ev.get("node") in ends)
        if ev.get("norm"):
            row["stream"] = ev.get("in_node") in added
    for row, pred in zip(data["layers"], preds):
        row["predicted"] = pred if pred is None or math.isfinite(pred) else None
        if row["weight"] and row.get("param"):
            row["predicted_from"] = src.get(row["param"])
    data["static_inits"] = {k: v[2] for k, v in static.items()}
    data["init_mismatch"] = init_mismatches(data["params"], static)


def _moments(sq: float, total: float, n: int) -> tuple[float, float]:
    """(std, mean) from Σx² and Σx; a variance below float32 resolution is 0."""
    mean = total / n
    var = sq / n - mean * mean
    if var <= 1e-6 * (sq / n):
        var = 0.0
    return math.sqrt(var) if math.isfinite(var) else var, mean


def _val(values, i):
    return None if i is None else values[i]


def _finish(events, pstats, output, values, loss_i, warnings) -> dict:
    layers = []
    for ev in events:
        row = {"name": ev["name"], "type": ev["type"], "call": ev["call"], "weight": ev["weight"],
               "relu": ev["relu"], "norm": ev.get("norm", False), "out_mean": None,
               "out_std": None, "zero_fraction": None, "in_std": None, "in_zero_fraction": None,
               "saturated_fraction": None, "spread": None}
        if "i_std" in ev:
            n = ev["numel"]
            row["out_std"] = values[ev["i_std"]]
            row["out_mean"] = values[ev["i_mean"]]
            row["zero_fraction"] = (values[ev["i_z"]] / ev.get("numel_z", n)
                                    if ev["i_z"] is not None else None)
            if "i_in_std" in ev:
                row["in_std"] = values[ev["i_in_std"]]
                row["in_zero_fraction"] = values[ev["i_in_z"]] / ev["in_numel"]
            if "i_sat" in ev:
                row["saturated_fraction"] = values[ev["i_sat"]] / n
            if "i_spread" in ev:
                row["spread"] = values[ev["i_spread"]]
            if "i_q" in ev:
                row["quantiles"] = [values[k] for k in ev["i_q"]]
        layers.append(row)
    params = []
    for st in pstats:
        row = {"name": st["name"], "module": st["module"], "local": st["local"],
               "module_type": st["module_type"], "shape": st["shape"], "fan_in": st["fan_in"],
               "matrix": st["matrix"]}
        if "i_sq" in st:
            std, mean = _moments(values[st["i_sq"]], values[st["i_sum"]], st["numel"])
            row.update(std=std, mean=mean, finite=math.isfinite(std) and math.isfinite(mean),
                       all_zero=std == 0 and mean == 0,
                       changed_in_forward=(st["version_changed"] or
                                           values[st["b_sum"]] != values[st["i_sum"]]))
            if "rows" in st:
                row["rows"] = st["rows"]
                row["unit_rows"] = st["unit_rows"]
                same = st["i_rows_same"]
                row["rows_identical"] = same is not False and bool(values[same])
                row["zero_variance"] = row["rows_identical"] and values[st["i_min"]] == values[st["i_max"]]
        if "i_grad_sq" in st:
            row["grad_std"] = _moments(values[st["i_grad_sq"]], values[st["i_grad_sum"]],
                                       st["numel"])[0]
            row["grad_finite"] = math.isfinite(row["grad_std"])
        else:
            row["grad_std"] = None
        params.append(row)
    by_module: dict[str, dict] = {}
    for row in params:
        by_module.setdefault(row["module"], {})[row["local"]] = row
    for row in layers:
        own = by_module.get(row["name"], {})
        pick = own.get("weight") or next((r for r in own.values() if len(r["shape"]) >= 2), None) \
            or next(iter(own.values()), None)
        row["grad_std"] = pick.get("grad_std") if pick else None
        row["param"] = pick["name"] if pick else None
    out = {k: v for k, v in output.items() if not k.startswith("i_")}
    for k in ("std", "mean", "batch_std", "abs_max"):
        out[k] = _val(values, output.get("i_" + k))
    return {"layers": layers, "params": params, "output": out, "loss": _val(values, loss_i),
            "warnings": warnings}


# ---------------------------------------------------------------------------- LSUV

def weight_layer_order(layers: list[dict]) -> list[str]:
    seen: list[str] = []
    for row in layers:
        if row["weight"] and row["name"] not in seen:
            seen.append(row["name"])
    return seen


def normalized_after(layers: list[dict]) -> set[str]:
    """Weight layers whose output reaches a normalization before another weight layer reads
    it: the norm cancels any scale of their weight (BERT's embeddings feed a LayerNorm). Not
    a pre-LN stream's norm (`stream`): the stream itself keeps the scale."""
    out: set[str] = set()
    pending: list[str] = []
    for r in layers:
        if r["weight"]:
            # a layer reading a float signal consumes what ran before it; embeddings (integer
            # input) run side by side
            pending = pending + [r["name"]] if r.get("in_std") is None else [r["name"]]
        elif r.get("norm"):
            if not r.get("stream"):
                out.update(pending)
            pending = []
    return out


def lsuv(model: nn.Module, x, order: list[str], reseed, *, tol: float = 0.1,
         max_iter: int = 10, status=None, skip: set[str] | None = None):
    """LSUV-style scale factors (Mishkin & Matas 2016): for each weight layer in execution
    order, scale its weight until the layer's output variance is within `tol` of 1. Works on a
    deep copy; returns (per-layer rows, the rescaled copy)."""
    batch = _as_batch(x)
    skip = skip or set()
    m2 = copy.deepcopy(model)
    for p in m2.parameters():
        p.grad = None
    m2.train()
    mods = dict(m2.named_modules())
    rows = []
    for k, name in enumerate(order):
        if status is not None:
            status(f"LSUV {k + 1}/{len(order)}")
        mod = mods.get(name)
        mw = main_weight(mod) if mod is not None else None
        if mw is None:
            continue
        local, w = mw
        if name in skip:
            rows.append({"name": name, "param": f"{name}.{local}" if name else local,
                         "scale": 1.0, "std_before": None, "std_after": None, "iterations": 0,
                         "converged": True, "note": "a normalization follows: it cancels any "
                         "scale of this weight, left as is"})
            continue

        def out_std(mod=mod):
            box: dict = {}

            def hook(m, i, o):
                t = first_tensor(o)
                if t is not None and t.is_floating_point():
                    box["std"] = float(t.detach().float().std(correction=0))
                raise _Stop

            h = mod.register_forward_hook(hook)
            reseed()
            try:
                with torch.no_grad():
                    m2(*batch.args, **batch.kwargs)
            except _Stop:
                pass
            finally:
                h.remove()
            return box.get("std")

        s0 = s = out_std()
        scale, it = 1.0, 0
        while (s is not None and math.isfinite(s) and s > 0 and abs(s * s - 1.0) >= tol
               and it < max_iter):
            with torch.no_grad():
                w.mul_(1.0 / s)
            scale /= s
            it += 1
            s = out_std()
        ok = s is not None and math.isfinite(s) and abs(s * s - 1.0) < tol
        note = ""
        if s0 is None:
            note = "not reached by the forward pass"
        elif not math.isfinite(s0):
            note = "output is NaN/Inf"
        elif s0 == 0:
            note = "output is constant: scaling the weight cannot restore variance"
        elif not ok:
            note = f"did not converge in {max_iter} steps (the bias or a later normalization dominates)"
        rows.append({"name": name, "param": f"{name}.{local}" if name else local,
                     "scale": scale, "std_before": s0, "std_after": s, "iterations": it,
                     "converged": ok, "note": note})
    return rows, m2


# ---------------------------------------------------------------------------- classes

def class_info(model: nn.Module) -> list[dict]:
    """Per named module: its type and, for classes outside torch, where the class lives."""
    out = []
    files: dict[type, str | None] = {}
    for name, m in model.named_modules():
        t = type(m)
        mod = t.__module__ or ""
        row = {"name": name, "type": t.__name__, "module": mod, "qualname": t.__qualname__,
               "file": None}
        if not (mod == "torch" or mod.startswith("torch.")):
            if t not in files:
                try:
                    f = inspect.getsourcefile(t)
                except (TypeError, OSError):
                    f = None
                files[t] = os.path.realpath(f) if f else None
            row["file"] = files[t]
        out.append(row)
    return out
