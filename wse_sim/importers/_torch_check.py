"""What the PyTorch importer can translate: the ATen op tables and the check that lists every
unsupported node before anything is built; small helpers on FX nodes and tensors."""

from __future__ import annotations

import operator

from wse_sim.errors import GraphError

UNARY = {"relu": "relu", "relu_": "relu", "gelu": "gelu", "sigmoid": "sigmoid", "tanh": "tanh",
         "silu": "silu", "silu_": "silu", "hardswish": "hardswish", "hardswish_": "hardswish",
         "hardsigmoid": "hardsigmoid", "hardsigmoid_": "hardsigmoid", "relu6": "relu6"}
CLAMPS = frozenset({"hardtanh", "hardtanh_", "clamp", "clamp_", "clip"})  # ReLU6 when [0, 6]
PADS = frozenset({"pad", "constant_pad_nd"})
BINARY = {"add": "add", "add_": "add", "sub": "sub", "mul": "mul", "div": "div", "rsub": "sub"}
VIEWS = frozenset({"view", "reshape", "_unsafe_view", "flatten", "unflatten", "squeeze",
                   "unsqueeze", "expand", "expand_as", "view_as", "reshape_as"})
ALIASES = frozenset({"contiguous", "clone", "alias", "detach", "_to_copy", "to", "type_as",
                     "lift_fresh_copy"})
IGNORED = frozenset({"_assert_tensor_metadata", "sym_size", "sym_numel", "sym_stride",
                     "_assert_scalar", "sym_constrain_range_for_size"})
PERMUTES = frozenset({"permute", "transpose", "t"})
LINEAR = frozenset({"linear", "addmm", "mm", "matmul", "bmm"})
CONVS = frozenset({"conv2d", "convolution", "conv_transpose2d"})
POOLS = frozenset({"max_pool2d", "max_pool2d_with_indices", "avg_pool2d"})
NORMS = frozenset({"layer_norm", "native_layer_norm", "batch_norm",
                   "_native_batch_norm_legit_no_training", "_native_batch_norm_legit",
                   "_native_batch_norm_legit_functional", "native_batch_norm"})
SPLITS = frozenset({"split", "split_with_sizes", "chunk", "unbind"})
SUPPORTED = frozenset(
    {"softmax", "_softmax", "adaptive_avg_pool2d", "mean", "embedding", "dropout", "dropout_",
     "native_dropout", "cat", "select", "slice", "index_select", "scaled_dot_product_attention",
     "getitem", "neg", "stack", "adaptive_avg_pool1d"} | CLAMPS | PADS
    | LINEAR | CONVS | POOLS | NORMS | SPLITS | PERMUTES
    | set(UNARY) | set(BINARY) | VIEWS | ALIASES
)
"""ATen op names (overload packets) the importer translates."""


def torch_module():
    """The ``torch`` package, or a GraphError naming the install."""
    try:
        import torch
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise GraphError(
            "from_torch needs PyTorch: pip install 'wse-sim[torch]' (torch==2.13.0, the CPU build)"
        ) from e
    return torch


def packet(node) -> str:
    """The ATen overload packet's name of an FX node (``"linear"``, ``"getitem"``)."""
    t = node.target
    if t is operator.getitem:
        return "getitem"
    p = getattr(t, "_overloadpacket", None)
    if p is not None:
        return p.__name__
    return getattr(t, "__name__", str(t))


def shape_of(val) -> tuple[int, ...]:
    return tuple(int(d) for d in val.shape)


def to_numpy(t):
    """A tensor's values as numpy (bfloat16 and bool through float32)."""
    torch = torch_module()
    t = t.detach()
    if t.dtype in (torch.bfloat16, torch.bool):
        t = t.float()
    return t.cpu().numpy()


def _arg(args, i: int, default):
    return args[i] if len(args) > i else default


def _conv_args(p: str, args) -> tuple:
    """``(stride, padding, dilation, groups)`` of a convolution node's arguments."""
    if p == "conv2d":
        return (_arg(args, 3, [1]), _arg(args, 4, [0]), _arg(args, 5, [1]), _arg(args, 6, 1))
    if p == "convolution":
        return args[3], args[4], args[5], args[8]
    return (_arg(args, 3, [1]), _arg(args, 4, [0]), _arg(args, 7, [1]), _arg(args, 6, 1))


def _check_conv(p: str, node) -> str | None:
    w = node.args[1].meta.get("val")
    k = tuple(w.shape[2:]) if w is not None else ()
    if len(k) != 2 or k[0] != k[1]:
        return f"aten.{p}(kernel {k})"
    stride, pad, dil, groups = _conv_args(p, node.args)
    if isinstance(pad, str):
        return f"aten.{p}(padding={pad!r})" if pad not in ("same", "valid") else None
    for what, v in (("stride", stride), ("padding", pad)):
        if isinstance(v, (list, tuple)) and len(set(v)) > 1:
            return f"aten.{p}({what} {tuple(v)})"
    dil = list(dil) if isinstance(dil, (list, tuple)) else [dil]
    if len(set(dil)) > 1:
        return f"aten.{p}(dilation {tuple(dil)})"
    transposed = p == "conv_transpose2d" or (p == "convolution" and node.args[6])
    if transposed and (groups != 1 or dil[0] != 1):
        return f"aten.{p}(transposed, groups={groups}, dilation={dil[0]})"
    return None


def check(node) -> str | None:
    """The name of the unsupported feature of activation node ``node``, or None."""
    p = packet(node)
    if p in IGNORED:
        return None
    if p not in SUPPORTED:
        return f"aten.{p}" if node.op == "call_function" else p
    args = node.args
    if p in CONVS:
        return _check_conv(p, node)
    if p in POOLS and _global_window(node):
        return None  # a window over the whole image (any ceil mode): a global average
    ceil = _arg(args, 4 if p == "avg_pool2d" else 5, node.kwargs.get("ceil_mode", False))
    if p in POOLS and ceil:
        return f"aten.{p}(ceil_mode)"
    if p == "adaptive_avg_pool2d" and tuple(args[1]) != (1, 1):
        return f"aten.{p}(output {tuple(args[1])})"
    if p == "adaptive_avg_pool1d" and tuple(args[1]) != (1,):
        return f"aten.{p}(output {tuple(args[1])})"
    if p in CLAMPS:
        lo = _arg(args, 1, node.kwargs.get("min_val", node.kwargs.get("min", -1.0)))
        hi = _arg(args, 2, node.kwargs.get("max_val", node.kwargs.get("max", 1.0)))
        if (lo, hi) != (0, 6) and (lo, hi) != (0.0, 6.0):
            return f"aten.{p}(min={lo}, max={hi})"
    if p in PADS:
        return _check_pad(p, node)
    return None


def _global_window(node) -> bool:
    """An average pool whose one output position covers the whole input."""
    val, x = node.meta.get("val"), node.args[0].meta.get("val")
    if packet(node) != "avg_pool2d" or val is None or x is None or len(x.shape) != 4:
        return False
    k = node.args[1]
    k = (k, k) if isinstance(k, int) else tuple(k) * (2 // len(k))
    return tuple(val.shape[-2:]) == (1, 1) and k[0] >= x.shape[-2] and k[1] >= x.shape[-1]


def _check_pad(p: str, node) -> str | None:
    """Constant zero padding of the height and width of an image (the only pad supported)."""
    x = node.args[0].meta.get("val")
    pads = list(node.args[1])
    mode = _arg(node.args, 2, node.kwargs.get("mode", "constant")) if p == "pad" else "constant"
    value = _arg(node.args, 3 if p == "pad" else 2, node.kwargs.get("value", 0.0))
    if mode != "constant" or value not in (0, 0.0, None):
        return f"aten.{p}(mode={mode!r}, value={value})"
    if not any(pads):
        return None  # no padding at all: the tensor itself
    if x is None or len(x.shape) != 4 or len(pads) not in (2, 4) or any(v < 0 for v in pads):
        return f"aten.{p}(pads {tuple(pads)} of a rank-{len(x.shape) if x is not None else '?'} "\
               "tensor; only padding of an image's height and width)"
    return None
