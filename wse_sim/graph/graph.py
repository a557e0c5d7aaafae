"""The graph IR: a ``networkx.DiGraph`` of :class:`Op` with shapes inferred as it is built.

Shapes are **per sample** (no batch dimension): a token sequence is ``(seq,)``, its embedding
``(seq, hidden)``, an image ``(channels, height, width)``. MAC counts are per sample too.

>>> g = Graph("mlp")
>>> x = g.input("x", (784,))
>>> h = g.relu("relu1", g.dense("fc1", x, 256))
>>> y = g.dense("fc2", h, 10)
>>> g.total_params, g.forward_macs
(203530, 203264)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

import networkx as nx

from ..errors import GraphError
from ..validate import show
from ..validate.ops import check_loss_args, check_padding
from .checks import LOSS_FNS, _check_op, _conv_args, _density, _dims, _positive_int
from .op import (
    BINARY_FNS,
    DTYPE_BYTES,
    ELEMENTWISE_FNS,
    LOSS_VECTOR_OPS,
    NORM_VECTOR_OPS,
    OP_KINDS,
    RELU_OUTPUT_DENSITY,
    SOFTMAX_VECTOR_OPS,
    Op,
)


def _conv_out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


class Graph:
    """A neural network as a DAG of :class:`Op`; build it with the methods named after op kinds.

    Each builder method checks and infers shapes, adds the op and returns its name, so calls
    chain: ``g.relu("r", g.dense("fc", x, 128))``.
    """

    def __init__(self, name: str, dtype: str = "fp16") -> None:
        if not isinstance(name, str) or not isinstance(dtype, str):
            raise GraphError(f"Graph(name, dtype) needs strings, got name={show(name)}, "
                             f"dtype={show(dtype)}; e.g. Graph('mlp', 'fp16')")
        if dtype not in DTYPE_BYTES:
            raise GraphError(f"unknown dtype {dtype!r}; use one of {sorted(DTYPE_BYTES)}")
        self.name = name
        self.dtype = dtype
        self.meta: dict = {}
        self._g = nx.DiGraph()

    # ---- construction ---------------------------------------------------------------------
    def _shape(self, name: str) -> tuple[int, ...]:
        if not isinstance(name, str) or name not in self._g:
            raise GraphError(f"{self.name}: unknown input op {name!r}; add it before using it")
        return self._g.nodes[name]["op"].out_shape

    def _density_of(self, name: str) -> float:
        return self._g.nodes[name]["op"].out_density

    def add(self, op: Op) -> str:
        """Add a fully specified op whose inputs already exist; return its name."""
        _check_op(op, self.name, self._shape)
        if op.name in self._g:
            raise GraphError(f"{self.name}: duplicate op name {op.name!r}; names must be unique")
        self._g.add_node(op.name, op=op)
        for src in op.inputs:
            self._g.add_edge(src, op.name)
        return op.name

    def _op(self, name, kind, inputs, out_shape, **kw) -> str:
        inputs = tuple(inputs)
        op = Op(name=name, kind=kind, inputs=inputs,
                in_shapes=tuple(self._shape(i) for i in inputs), out_shape=tuple(out_shape),
                dtype=kw.pop("dtype", self.dtype), **kw)
        return self.add(op)

    def input(self, name: str, shape: Sequence[int], density: float = 1.0,
              dtype: str | None = None) -> str:
        """A graph input of per-sample ``shape``; ``density`` = expected non-zero fraction."""
        shape = _dims(name, "input shape", shape)
        if len(shape) == 0:
            raise GraphError(f"op {name!r}: input shape must have at least one dimension, "
                             f"got {tuple(shape)}; use (1,) for a scalar")
        if dtype is not None and (not isinstance(dtype, str) or dtype not in DTYPE_BYTES):
            raise GraphError(f"op {name!r}: unknown dtype {dtype!r}; use one of "
                             f"{sorted(DTYPE_BYTES)}")
        for d in shape:
            _positive_int(name, "input dimension", d)
        return self._op(name, "input", (), shape, out_density=_density(name, "density", density),
                        dtype=dtype or self.dtype)

    def dense(self, name: str, x: str, n_out: int, bias: bool = True,
              tied_to: str | None = None) -> str:
        """Linear layer on the last dimension: ``(..., n_in) -> (..., n_out)``.

        ``tied_to`` names an embedding whose weights this layer reuses (params not counted).
        """
        shape = self._shape(x)
        n_out = _positive_int(name, "n_out", n_out)
        n_in = shape[-1]
        rows = math.prod(shape[:-1])
        if tied_to is not None:
            tied = self._g.nodes[tied_to]["op"] if tied_to in self else None
            if tied is None or tied.kind != "embedding" or tied.weight_shape != (n_out, n_in):
                raise GraphError(f"op {name!r}: tied_to={tied_to!r} must be an embedding of "
                                 f"shape ({n_out}, {n_in})")
        macs = rows * n_in * n_out
        params = (0 if tied_to else n_in * n_out) + (n_out if bias else 0)
        return self._op(name, "dense", [x], (*shape[:-1], n_out), weight_shape=(n_in, n_out),
                        params=params, macs_fwd=macs, macs_bwd_input=macs, macs_bwd_weight=macs,
                        attrs={"rows": rows, "bias": bias, "tied_to": tied_to})

    def matmul(self, name: str, a: str, b: str, transpose_b: bool = False) -> str:
        """Product of two activations, batched over leading dims: ``(..., m, k) @ (..., k, n)``."""
        sa, sb = self._shape(a), self._shape(b)
        if transpose_b and len(sb) >= 2:
            sb = (*sb[:-2], sb[-1], sb[-2])
        if len(sa) < 2 or len(sa) != len(sb) or sa[:-2] != sb[:-2] or sa[-1] != sb[-2]:
            raise GraphError(f"op {name!r}: cannot multiply shapes {self._shape(a)} and "
                             f"{self._shape(b)} (transpose_b={transpose_b})")
        batch = math.prod(sa[:-2])
        m, k, n = sa[-2], sa[-1], sb[-1]
        macs = batch * m * k * n
        return self._op(name, "matmul", [a, b], (*sa[:-2], m, n), macs_fwd=macs,
                        macs_bwd_input=2 * macs,
                        attrs={"batch": batch, "m": m, "k": k, "n": n,
                               "transpose_b": transpose_b})

    def conv2d(self, name: str, x: str, out_channels: int, kernel: int, stride: int = 1,
               padding: int | str = "same", bias: bool = True, groups: int = 1,
               dilation: int = 1) -> str:
        """2-D convolution ``(c_in, h, w) -> (c_out, h_out, w_out)``; 'same' pads half the
        dilated kernel. ``groups`` independent convolutions (``c_in``: depthwise) each sum
        ``c_in // groups`` channels (weight ``(c_out, c_in // groups, k, k)``); ``dilation``
        spaces the taps."""
        shape = self._shape(x)
        if len(shape) != 3:
            raise GraphError(f"op {name!r}: conv2d needs a (channels, height, width) input, "
                             f"got shape {shape}")
        c_in, h, w = shape
        c_out, k, s, grp, d, p = _conv_args(name, c_in, out_channels, kernel, stride, groups,
                                            dilation, padding)
        span = d * (k - 1) + 1  # the dilated kernel's extent
        ho, wo = _conv_out(h, span, s, p), _conv_out(w, span, s, p)
        if ho < 1 or wo < 1:
            raise GraphError(f"op {name!r}: kernel {k} (dilation {d}) with stride {s} does not "
                             f"fit input shape {shape}")
        c_g = c_in // grp
        attrs = {"kernel": k, "stride": s, "padding": p, "bias": bias,
                 **({"groups": grp} if grp != 1 else {}), **({"dilation": d} if d != 1 else {})}
        macs = c_out * ho * wo * c_g * k * k
        return self._op(name, "conv2d", [x], (c_out, ho, wo), weight_shape=(c_out, c_g, k, k),
                        params=c_out * c_g * k * k + (c_out if bias else 0), macs_fwd=macs,
                        macs_bwd_input=macs, macs_bwd_weight=macs, attrs=attrs)

    def conv_transpose2d(self, name: str, x: str, out_channels: int, kernel: int,
                         stride: int = 1, padding: int | str = "same",
                         output_padding: int = 0, bias: bool = True) -> str:
        """Transposed convolution; 'same' gives ``h_out = h * stride`` (as Keras does)."""
        shape = self._shape(x)
        if len(shape) != 3:
            raise GraphError(f"op {name!r}: conv_transpose2d needs a (channels, height, width) "
                             f"input, got shape {shape}")
        c_in, h, w = shape
        c_out = _positive_int(name, "out_channels", out_channels)
        k = _positive_int(name, "kernel", kernel)
        s = _positive_int(name, "stride", stride)
        padding = check_padding(name, "padding", padding)
        output_padding = check_padding(name, "output_padding", output_padding, same_ok=False)
        if isinstance(padding, str) and padding == "same":
            # choose p, output_padding so that h_out = h * s: (h-1)s - 2p + k + op = h s
            total = k - s
            p = max(total, 0) // 2 + max(total, 0) % 2
            output_padding = 2 * p - total
        elif not (isinstance(padding, int) and padding >= 0):
            raise GraphError(f"op {name!r}: padding must be 'same' or an int >= 0, "
                             f"got {padding!r}")
        else:
            p = padding
        ho = (h - 1) * s - 2 * p + k + output_padding
        wo = (w - 1) * s - 2 * p + k + output_padding
        if ho < 1 or wo < 1:
            raise GraphError(f"op {name!r}: output shape ({c_out}, {ho}, {wo}) is empty")
        macs = c_in * h * w * c_out * k * k
        return self._op(name, "conv_transpose2d", [x], (c_out, ho, wo),
                        weight_shape=(c_in, c_out, k, k),
                        params=c_out * c_in * k * k + (c_out if bias else 0), macs_fwd=macs,
                        macs_bwd_input=macs, macs_bwd_weight=macs,
                        attrs={"kernel": k, "stride": s, "padding": p,
                               "output_padding": output_padding, "bias": bias})

    def pool(self, name: str, x: str, kernel: int | None = None, stride: int | None = None,
             padding: int = 0, kind: str = "max") -> str:
        """Max or average pooling; ``kind='global_avg'`` reduces (c, h, w) to (c,)."""
        shape = self._shape(x)
        if not isinstance(kind, str):
            raise GraphError(f"op {name!r}: pool kind must be 'max', 'avg' or 'global_avg', "
                             f"got {show(kind)}")
        if len(shape) != 3:
            raise GraphError(f"op {name!r}: pool needs a (channels, height, width) input, "
                             f"got shape {shape}")
        c, h, w = shape
        density = self._density_of(x)
        if kind == "global_avg":
            return self._op(name, "pool", [x], (c,), vector_ops=c * h * w,
                            out_density=1 - (1 - density) ** (h * w), attrs={"pool": kind})
        if kind not in ("max", "avg"):
            raise GraphError(f"op {name!r}: pool kind must be 'max', 'avg' or 'global_avg', "
                             f"got {kind!r}")
        k = _positive_int(name, "kernel", kernel)
        s = _positive_int(name, "stride", k if stride is None else stride)
        if isinstance(padding, bool) or not isinstance(padding, int) or not 0 <= padding <= k // 2:
            raise GraphError(f"op {name!r}: pool padding must be an int in [0, {k // 2}], "
                             f"got {padding!r}")
        ho, wo = _conv_out(h, k, s, padding), _conv_out(w, k, s, padding)
        if ho < 1 or wo < 1:
            raise GraphError(f"op {name!r}: pool kernel {k} does not fit input shape {shape}")
        return self._op(name, "pool", [x], (c, ho, wo), vector_ops=c * ho * wo * k * k,
                        out_density=1 - (1 - density) ** (k * k),
                        attrs={"pool": kind, "kernel": k, "stride": s, "padding": padding})

    def embedding(self, name: str, x: str, vocab: int, dim: int) -> str:
        """Table lookup ``(seq,) -> (seq, dim)`` from a ``(vocab, dim)`` table."""
        shape = self._shape(x)
        vocab = _positive_int(name, "vocab", vocab)
        dim = _positive_int(name, "dim", dim)
        return self._op(name, "embedding", [x], (*shape, dim), weight_shape=(vocab, dim),
                        params=vocab * dim, attrs={"rows": math.prod(shape)})

    def _norm(self, name: str, x: str, kind: str, dim: int) -> str:
        shape = self._shape(x)
        return self._op(name, kind, [x], shape, weight_shape=(dim,), params=2 * dim,
                        vector_ops=NORM_VECTOR_OPS * math.prod(shape))

    def layernorm(self, name: str, x: str) -> str:
        """Layer normalisation over the last dimension (gain and bias)."""
        return self._norm(name, x, "layernorm", self._shape(x)[-1])

    def batchnorm(self, name: str, x: str) -> str:
        """Batch normalisation over channels of a (c, h, w) input (gain and bias)."""
        return self._norm(name, x, "batchnorm", self._shape(x)[0])

    def softmax(self, name: str, x: str) -> str:
        """Softmax over the last dimension."""
        shape = self._shape(x)
        return self._op(name, "softmax", [x], shape,
                        vector_ops=SOFTMAX_VECTOR_OPS * math.prod(shape))

    def elementwise(self, name: str, fn: str, *inputs: str, p: float = 0.0) -> str:
        """Elementwise ``fn`` of one (relu, ...) or two (add, ...) equal shapes; ``p``: dropout."""
        if not isinstance(fn, str) or fn not in ELEMENTWISE_FNS:
            raise GraphError(f"op {name!r}: unknown elementwise fn {fn!r}; known: "
                             f"{', '.join(sorted(ELEMENTWISE_FNS))}")
        arity = 2 if fn in BINARY_FNS else 1
        if len(inputs) != arity:
            raise GraphError(f"op {name!r}: {fn} takes {arity} input(s), got {len(inputs)}")
        shapes = [self._shape(i) for i in inputs]
        if any(s != shapes[0] for s in shapes):
            raise GraphError(f"op {name!r}: {fn} needs equal shapes, got "
                             f"{' and '.join(map(str, shapes))}")
        d_in = self._density_of(inputs[0])
        if fn in ("relu", "relu6"):
            density = min(d_in, RELU_OUTPUT_DENSITY)
        elif fn == "dropout":
            density = d_in * (1 - _density(name, "dropout p", p))
        elif fn in ("mul",):
            density = d_in * self._density_of(inputs[1])
        elif fn == "scale":
            density = d_in
        else:
            density = 1.0
        return self._op(name, "elementwise", inputs, shapes[0],
                        vector_ops=ELEMENTWISE_FNS[fn] * math.prod(shapes[0]),
                        out_density=density, attrs={"fn": fn, "p": p})

    def relu(self, name: str, x: str) -> str:
        return self.elementwise(name, "relu", x)

    def gelu(self, name: str, x: str) -> str:
        return self.elementwise(name, "gelu", x)

    def sigmoid(self, name: str, x: str) -> str:
        return self.elementwise(name, "sigmoid", x)

    def dropout(self, name: str, x: str, p: float) -> str:
        return self.elementwise(name, "dropout", x, p=p)

    def add_(self, name: str, a: str, b: str) -> str:
        """Elementwise sum (residual connection)."""
        return self.elementwise(name, "add", a, b)

    def reshape(self, name: str, x: str, shape: Sequence[int]) -> str:
        """Same elements, new per-sample shape (no compute)."""
        src = self._shape(x)
        shape = _dims(name, "reshape shape", shape)
        for d in shape:
            _positive_int(name, "reshape dimension", d)
        if math.prod(shape) != math.prod(src):
            raise GraphError(f"op {name!r}: cannot reshape {src} ({math.prod(src)} elements) "
                             f"to {shape} ({math.prod(shape)} elements)")
        return self._op(name, "reshape", [x], shape, out_density=self._density_of(x))

    def transpose(self, name: str, x: str, perm: Sequence[int]) -> str:
        """Permute dimensions (no compute)."""
        src = self._shape(x)
        perm = _dims(name, "perm", perm)
        if sorted(perm) != list(range(len(src))):
            raise GraphError(f"op {name!r}: perm {tuple(perm)} is not a permutation of the "
                             f"{len(src)} dims of shape {src}")
        return self._op(name, "transpose", [x], tuple(src[i] for i in perm),
                        out_density=self._density_of(x), attrs={"perm": tuple(perm)})

    def loss(self, name: str, *inputs: str, fn: str = "cross_entropy") -> str:
        """Scalar training loss of the given tensors; ``fn`` is one of ``checks.LOSS_FNS``."""
        check_loss_args(name, inputs, fn, LOSS_FNS)
        ops = LOSS_VECTOR_OPS * sum(math.prod(self._shape(i)) for i in inputs)  # checks each
        return self._op(name, "loss", inputs, (1,), vector_ops=ops, attrs={"fn": fn})

    # ---- queries --------------------------------------------------------------------------
    @property
    def nx_graph(self) -> nx.DiGraph:
        """A read-only view of the underlying DiGraph (node attribute ``op``)."""
        return self._g.copy(as_view=True)

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def __contains__(self, name: str) -> bool:
        return isinstance(name, str) and name in self._g

    def op(self, name: str) -> Op:
        if name not in self:
            raise GraphError(f"{self.name}: no op named {name!r}")
        return self._g.nodes[name]["op"]

    def ops(self) -> list[Op]:
        """All ops in a deterministic topological order (insertion order breaks ties)."""
        self.validate()
        order = {n: i for i, n in enumerate(self._g.nodes)}
        names = nx.lexicographical_topological_sort(self._g, key=order.__getitem__)
        return [self._g.nodes[n]["op"] for n in names]

    def heavy_ops(self) -> list[Op]:
        return [op for op in self.ops() if op.heavy]

    def successors(self, name: str) -> list[str]:
        self.op(name)  # a GraphError naming an unknown op, not networkx's
        return list(self._g.successors(name))

    def validate(self) -> None:
        """Raise :class:`GraphError` for a cycle or an empty graph."""
        if len(self._g) == 0:
            raise GraphError(f"graph {self.name!r} is empty; add at least one op")
        if not nx.is_directed_acyclic_graph(self._g):
            cycle = [u for u, _ in nx.find_cycle(self._g)]
            raise GraphError(f"graph {self.name!r} has a cycle through ops "
                             f"{' -> '.join(cycle)}; a network must be acyclic")

    @property
    def total_params(self) -> int:
        """Trainable parameters (tied weights counted once)."""
        return sum(op.params for op in self._g.nodes.values() for op in [op["op"]])

    @property
    def forward_macs(self) -> int:
        """Forward MACs per sample."""
        return sum(d["op"].macs_fwd for d in self._g.nodes.values())

    @property
    def training_macs(self) -> int:
        """Forward + backward (input and weight gradient) MACs per sample."""
        return sum(d["op"].training_macs for d in self._g.nodes.values())

    def summary(self) -> str:
        """A per-op text table: name, kind, output shape, params, forward MACs, densities."""
        rows = [("op", "kind", "out shape", "params", "fwd MACs", "w dens", "out dens")]
        for op in self.ops():
            rows.append((op.name, op.kind, "x".join(map(str, op.out_shape)), f"{op.params:,}",
                         f"{op.macs_fwd:,}", f"{op.weight_density:.3g}",
                         f"{op.out_density:.3g}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                 for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"{self.name}: {len(self)} ops, {self.total_params:,} params, "
                     f"{self.forward_macs:,} forward MACs/sample, "
                     f"{self.training_macs:,} training MACs/sample")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "meta": dict(self.meta),
                "params": self.total_params, "forward_macs": self.forward_macs,
                "training_macs": self.training_macs,
                "ops": [op.to_dict() for op in self.ops()]}

    def copy(self) -> Graph:
        g = Graph(self.name, self.dtype)
        g.meta = dict(self.meta)
        g._g = self._g.copy()
        return g

    def replace_op(self, name: str, /, **changes) -> None:
        """Replace fields of op ``name`` in place (kind, inputs and shapes are fixed)."""
        for key in ("name", "kind", "inputs", "in_shapes", "out_shape"):
            if key in changes:
                raise GraphError(f"replace_op cannot change {key!r} of op {name!r}")
        unknown = set(changes) - {f.name for f in dataclasses.fields(Op)}
        if unknown:
            raise GraphError(f"replace_op: Op has no fields {sorted(unknown)}")
        new = dataclasses.replace(self.op(name), **changes)
        _check_op(new, self.name)  # the same rules as add(): a replaced field stays valid
        self._g.nodes[name]["op"] = new

    @classmethod
    def from_ops(cls, name: str, ops: Iterable[Op], dtype: str = "fp16") -> Graph:
        """Build a graph from complete ops (e.g. an importer's output); checks it is a DAG."""
        g = cls(name, dtype)
        if isinstance(ops, (str, bytes, Op)) or not isinstance(ops, Iterable):
            raise GraphError(f"Graph.from_ops({name!r}, ops): ops must be an iterable of Op, got "
                             f"{show(ops)} ({type(ops).__name__})")
        ops = list(ops)
        for op in ops:
            _check_op(op, name, fields=False)
            if op.kind not in OP_KINDS:
                raise GraphError(f"op {op.name!r}: unknown kind {op.kind!r}")
            if op.name in g._g:
                raise GraphError(f"{name}: duplicate op name {op.name!r}; names must be unique")
            g._g.add_node(op.name, op=op)
        for op in ops:
            for src in op.inputs:
                if src not in g._g:
                    raise GraphError(f"op {op.name!r}: unknown input op {src!r}")
                g._g.add_edge(src, op.name)
            _check_op(op, name, g._shape)
        g.validate()
        return g
