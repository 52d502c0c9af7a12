"""Knowledge tables: activations, init functions and layer kinds, as data.

Everything the rules know about PyTorch (and well-known third-party building blocks) lives
here, keyed by canonical dotted names as produced by :mod:`initlint.analysis.names`.
"""

from __future__ import annotations

import math
import re

# --------------------------------------------------------------------------- activations
# family: relu | saturating | selu | smooth | linear
# gain: calculate_gain value; "slope" is the default negative slope for leaky variants.

RELU, SATURATING, SELU, SMOOTH, LINEAR, RUNTIME = (
    "relu",
    "saturating",
    "selu",
    "smooth",
    "linear",
    "runtime",
)

# activation short name -> (family, default slope or None)
ACT_NAMES: dict[str, tuple[str, float | None]] = {
    "relu": (RELU, 0.0),
    "relu6": (RELU, 0.0),
    "leaky_relu": (RELU, 0.01),
    "prelu": (RELU, 0.25),
    "rrelu": (RELU, (1 / 8 + 1 / 3) / 2),
    "tanh": (SATURATING, None),
    "sigmoid": (SATURATING, None),
    "hardtanh": (SATURATING, None),
    "softsign": (SATURATING, None),
    "hardsigmoid": (SATURATING, None),
    "selu": (SELU, None),
    "gelu": (SMOOTH, None),
    "silu": (SMOOTH, None),
    "swish": (SMOOTH, None),
    "mish": (SMOOTH, None),
    "elu": (SMOOTH, None),
    "celu": (SMOOTH, None),
    "hardswish": (SMOOTH, None),
    "softplus": (SMOOTH, None),
    "quick_gelu": (SMOOTH, None),
    "gelu_new": (SMOOTH, None),
    "gelu_pytorch_tanh": (SMOOTH, None),
    "identity": (LINEAR, None),
}

# module classes -> short name
_ACT_MODULES = {
    "ReLU": "relu",
    "ReLU6": "relu6",
    "LeakyReLU": "leaky_relu",
    "PReLU": "prelu",
    "RReLU": "rrelu",
    "Tanh": "tanh",
    "Sigmoid": "sigmoid",
    "Hardtanh": "hardtanh",
    "Softsign": "softsign",
    "Hardsigmoid": "hardsigmoid",
    "SELU": "selu",
    "GELU": "gelu",
    "SiLU": "silu",
    "Mish": "mish",
    "ELU": "elu",
    "CELU": "celu",
    "Hardswish": "hardswish",
    "Softplus": "softplus",
    "Identity": "identity",
}
ACT_MODULES: dict[str, str] = {f"torch.nn.{k}": v for k, v in _ACT_MODULES.items()}
ACT_MODULES.update({f"torch.nn.modules.activation.{k}": v for k, v in _ACT_MODULES.items()})
# timm re-exports / variants
for _n, _v in {"GELU": "gelu", "Swish": "silu", "Mish": "mish", "HardSwish": "hardswish",
               "HardSigmoid": "hardsigmoid", "QuickGELU": "quick_gelu", "Sigmoid": "sigmoid",
               "Tanh": "tanh", "PReLU": "prelu"}.items():
    ACT_MODULES[f"timm.layers.{_n}"] = _v
    ACT_MODULES[f"timm.layers.activations.{_n}"] = _v

# functional spellings -> short name (F.*, torch.*, and tensor methods via ".method")
ACT_FUNCTIONS: dict[str, str] = {}
for _short in ("relu", "relu6", "leaky_relu", "prelu", "rrelu", "tanh", "sigmoid", "hardtanh",
               "softsign", "hardsigmoid", "selu", "gelu", "silu", "mish", "elu", "celu",
               "hardswish", "softplus"):
    ACT_FUNCTIONS[f"torch.nn.functional.{_short}"] = _short
    ACT_FUNCTIONS[f"torch.nn.functional.{_short}_"] = _short
for _short in ("relu", "tanh", "sigmoid", "selu", "celu", "rrelu", "prelu"):
    ACT_FUNCTIONS[f"torch.{_short}"] = _short
    ACT_FUNCTIONS[f"torch.{_short}_"] = _short
ACT_FUNCTIONS["torch.special.expit"] = "sigmoid"
ACT_TENSOR_METHODS = {"relu": "relu", "relu_": "relu", "tanh": "tanh", "tanh_": "tanh",
                      "sigmoid": "sigmoid", "sigmoid_": "sigmoid"}

# callables that pick an activation from a string at run time
RUNTIME_ACT_FACTORIES = {
    "transformers.activations.ACT2FN",
    "transformers.activations.get_activation",
    "timm.layers.get_act_layer",
    "timm.layers.create_act.get_act_layer",
    "timm.layers.create_act_layer",
    "timm.layers.create_act.create_act_layer",
    "timm.layers.get_act_fn",
}


def act_family(short: str, relu_like: frozenset[str] = frozenset()) -> str:
    if short in relu_like:
        return RELU
    return ACT_NAMES.get(short, (RUNTIME, None))[0]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float | None:
    """torch.nn.init.calculate_gain, as a table."""
    nl = nonlinearity.lower()
    if nl in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid", "identity"):
        return 1.0
    if nl == "tanh":
        return 5.0 / 3
    if nl == "relu":
        return math.sqrt(2.0)
    if nl == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nl == "selu":
        return 3.0 / 4
    return None


def act_gain(short: str, slope: float | None = None) -> float:
    """The gain that keeps variance for this activation (gain 1 where torch has none)."""
    family, default_slope = ACT_NAMES.get(short, (RUNTIME, None))
    if short in ("leaky_relu", "prelu", "rrelu"):
        s = default_slope if slope is None else slope
        return math.sqrt(2.0 / (1 + s * s))
    if family == RELU:
        return math.sqrt(2.0)
    if short == "tanh":
        return 5.0 / 3
    if family == SELU:
        return 1.0  # LeCun normal is the right scale for SELU
    return 1.0


# --------------------------------------------------------------------------- init functions
# canonical function -> (kind, positional parameter names after the tensor, defaults)
_INIT_SIGS: dict[str, tuple[str, tuple[str, ...], dict]] = {
    "xavier_uniform_": ("xavier", ("gain",), {"gain": 1.0, "dist": "uniform"}),
    "xavier_normal_": ("xavier", ("gain",), {"gain": 1.0, "dist": "normal"}),
    "kaiming_uniform_": ("kaiming", ("a", "mode", "nonlinearity"),
                         {"a": 0.0, "mode": "fan_in", "nonlinearity": "leaky_relu", "dist": "uniform"}),
    "kaiming_normal_": ("kaiming", ("a", "mode", "nonlinearity"),
                        {"a": 0.0, "mode": "fan_in", "nonlinearity": "leaky_relu", "dist": "normal"}),
    "normal_": ("normal", ("mean", "std"), {"mean": 0.0, "std": 1.0}),
    "uniform_": ("uniform", ("a", "b"), {"a": 0.0, "b": 1.0}),
    "trunc_normal_": ("normal", ("mean", "std", "a", "b"), {"mean": 0.0, "std": 1.0}),
    "constant_": ("constant", ("val",), {}),
    "zeros_": ("zero", (), {}),
    "ones_": ("constant", (), {"val": 1.0}),
    "eye_": ("eye", (), {}),
    "dirac_": ("dirac", ("groups",), {}),
    "orthogonal_": ("orthogonal", ("gain",), {"gain": 1.0}),
    "sparse_": ("sparse", ("sparsity", "std"), {"std": 0.01}),
    "copy_": ("copy", ("other",), {}),
}
INIT_FUNCTIONS: dict[str, tuple[str, tuple[str, ...], dict]] = {}
for _prefix in ("torch.nn.init.", "transformers.initialization."):
    for _name, _sig in _INIT_SIGS.items():
        INIT_FUNCTIONS[_prefix + _name] = _sig
        if _prefix == "torch.nn.init." and _name not in ("copy_", "zeros_", "ones_", "eye_"):
            INIT_FUNCTIONS[_prefix + _name[:-1]] = _sig  # deprecated spellings: nn.init.normal
# timm's own initializers
for _mod in ("timm.layers", "timm.layers.weight_init", "timm.models.layers"):
    INIT_FUNCTIONS[f"{_mod}.trunc_normal_"] = _INIT_SIGS["trunc_normal_"]
    INIT_FUNCTIONS[f"{_mod}.trunc_normal_tf_"] = _INIT_SIGS["trunc_normal_"]
    INIT_FUNCTIONS[f"{_mod}.lecun_normal_"] = ("lecun", (), {})
    INIT_FUNCTIONS[f"{_mod}.variance_scaling_"] = ("variance_scaling", ("scale", "mode", "distribution"), {})

# tensor methods that write a tensor in place: method -> (kind, positional names, defaults)
TENSOR_INIT_METHODS: dict[str, tuple[str, tuple[str, ...], dict]] = {
    "normal_": ("normal", ("mean", "std"), {"mean": 0.0, "std": 1.0}),
    "uniform_": ("uniform", ("a", "b"), {"a": 0.0, "b": 1.0}),
    "zero_": ("zero", (), {}),
    "fill_": ("constant", ("val",), {}),
    "copy_": ("copy", ("other",), {}),
    "trunc_normal_": ("normal", ("mean", "std", "a", "b"), {"mean": 0.0, "std": 1.0}),
}
RESCALE_METHODS = {"mul_", "div_"}

CALCULATE_GAIN = {"torch.nn.init.calculate_gain", "transformers.initialization.calculate_gain"}

# --------------------------------------------------------------------------- layers
# kind -> (category, positional parameter names)
#   category: weight (has a weight matrix), norm, embedding, rnn, container
_LAYERS = {
    "Linear": ("weight", ("in_features", "out_features", "bias")),
    "Bilinear": ("weight", ("in1_features", "in2_features", "out_features")),
    "LazyLinear": ("weight", ("out_features",)),
    "Conv1d": ("weight", ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                          "dilation", "groups")),
    "Conv2d": ("weight", ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                          "dilation", "groups")),
    "Conv3d": ("weight", ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                          "dilation", "groups")),
    "ConvTranspose1d": ("weight", ("in_channels", "out_channels", "kernel_size")),
    "ConvTranspose2d": ("weight", ("in_channels", "out_channels", "kernel_size")),
    "ConvTranspose3d": ("weight", ("in_channels", "out_channels", "kernel_size")),
    "LazyConv1d": ("weight", ("out_channels", "kernel_size")),
    "LazyConv2d": ("weight", ("out_channels", "kernel_size")),
    "LazyConv3d": ("weight", ("out_channels", "kernel_size")),
    "BatchNorm1d": ("norm", ("num_features",)),
    "BatchNorm2d": ("norm", ("num_features",)),
    "BatchNorm3d": ("norm", ("num_features",)),
    "SyncBatchNorm": ("norm", ("num_features",)),
    "LayerNorm": ("norm", ("normalized_shape",)),
    "GroupNorm": ("norm", ("num_groups", "num_channels")),
    "InstanceNorm1d": ("norm", ("num_features",)),
    "InstanceNorm2d": ("norm", ("num_features",)),
    "InstanceNorm3d": ("norm", ("num_features",)),
    "RMSNorm": ("norm", ("normalized_shape",)),
    "LocalResponseNorm": ("norm", ("size",)),
    "Embedding": ("embedding", ("num_embeddings", "embedding_dim")),
    "EmbeddingBag": ("embedding", ("num_embeddings", "embedding_dim")),
    "RNN": ("rnn", ("input_size", "hidden_size", "num_layers")),
    "LSTM": ("rnn", ("input_size", "hidden_size", "num_layers")),
    "GRU": ("rnn", ("input_size", "hidden_size", "num_layers")),
    "RNNCell": ("rnn", ("input_size", "hidden_size")),
    "LSTMCell": ("rnn", ("input_size", "hidden_size")),
    "GRUCell": ("rnn", ("input_size", "hidden_size")),
    "MultiheadAttention": ("attention", ("embed_dim", "num_heads")),
    "Sequential": ("container", ()),
    "ModuleList": ("container", ()),
    "ModuleDict": ("container", ()),
}
LAYERS: dict[str, tuple[str, tuple[str, ...]]] = {}
for _k, _v in _LAYERS.items():
    LAYERS[f"torch.nn.{_k}"] = _v
    LAYERS[f"torch.nn.modules.{_k}"] = _v
# Hugging Face's GPT-2 style Conv1D is a Linear with (nx=in, nf=out) swapped in the signature.
LAYERS["transformers.pytorch_utils.Conv1D"] = ("weight", ("out_features", "in_features"))
LAYERS["transformers.modeling_utils.Conv1D"] = ("weight", ("out_features", "in_features"))

# Layers whose forward is transparent for the signal path (shape/regularization only).
TRANSPARENT_LAYERS = {f"torch.nn.{k}" for k in (
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "Flatten", "Unflatten",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "Upsample", "PixelShuffle", "PixelUnshuffle",
    "ZeroPad2d", "ConstantPad1d", "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d",
)}
TRANSPARENT_FUNCTIONS = {f"torch.nn.functional.{k}" for k in (
    "dropout", "dropout1d", "dropout2d", "dropout3d", "max_pool1d", "max_pool2d", "max_pool3d",
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_avg_pool3d", "adaptive_max_pool2d", "interpolate", "pad", "pixel_shuffle",
    "upsample",
)} | {f"torch.{k}" for k in ("flatten", "reshape", "transpose", "permute", "squeeze",
                              "unsqueeze", "cat", "stack", "chunk", "split", "mean", "sum")}

# Functions that normalize their input, and tensor methods that only reshape or reduce it
# (the signal path goes through them).
FUNCTIONAL_NORMS = {f"torch.nn.functional.{n}" for n in (
    "normalize", "layer_norm", "group_norm", "batch_norm", "instance_norm", "rms_norm",
    "local_response_norm")} | {"torch.layer_norm", "torch.group_norm", "torch.batch_norm"}
SHAPE_METHODS = {"view", "reshape", "flatten", "permute", "transpose", "contiguous", "squeeze",
                 "unsqueeze", "float", "half", "to", "type_as", "clone", "detach", "mean", "sum",
                 "chunk", "split", "expand", "expand_as", "repeat", "narrow", "unflatten",
                 "view_as", "softmax", "masked_fill", "type", "bfloat16", "double", "amax",
                 "norm", "pow", "max", "min"}

# Parent classes that make a class a module.
MODULE_BASES = {"torch.nn.Module", "torch.nn.modules.module.Module", "torch.nn.Sequential",
                "torch.nn.ModuleList", "transformers.PreTrainedModel",
                "transformers.modeling_utils.PreTrainedModel"}
SEQUENTIAL_BASES = {"torch.nn.Sequential"}
# Framework hook names whose init methods are called by the framework (exempt from IL401).
FRAMEWORK_INIT_HOOKS = {"_init_weights", "reset_parameters", "_reset_parameters",
                        "init_weights", "initialize_weights", "_initialize_weights"}
HF_BASE_SUFFIXES = ("PreTrainedModel",)


def is_framework_base(qualname: str) -> bool:
    """A framework base class, also where its package is vendored under another name
    (`third_party.transformers.modeling_utils.PreTrainedModel`)."""
    return qualname in MODULE_BASES or any(qualname.endswith("." + b) for b in MODULE_BASES)


_NORM_NAME = re.compile(r"Norm(Act)?(\d[dD])?$|Norm(Gated|Layer)?$")


def layer_short(kind: str) -> str:
    return kind.rsplit(".", 1)[-1]


def layer_category(kind: str | None) -> str | None:
    if kind is None:
        return None
    if kind in LAYERS:
        return LAYERS[kind][0]
    if _NORM_NAME.search(layer_short(kind)):
        return "norm"  # project classes named like norms: LlamaRMSNorm, LayerNorm2d, BatchNormAct2d
    return None


def is_norm(kind: str | None) -> bool:
    return layer_category(kind) == "norm"


def is_batchnorm(kind: str | None) -> bool:
    return kind is not None and "BatchNorm" in layer_short(kind)


def param_names(kind: str | None) -> tuple[str, ...]:
    """Names of the parameters a built-in layer registers (as `named_parameters()` sees them)."""
    cat = layer_category(kind)
    if cat == "rnn":
        if layer_short(kind).endswith("Cell"):
            return ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    if cat == "attention":
        return ("in_proj_weight", "in_proj_bias")
    if cat in ("weight", "embedding", "norm"):
        return ("weight", "bias")
    return ()
