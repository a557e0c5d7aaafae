"""ONNX subgraphs that are one op of the IR, found before anything is built.

* **Elementwise chains, identified by value.** A connected set of elementwise nodes (``Pow``,
  ``Mul``, ``Add``, ``Tanh``, ``Erf``, ``IsNaN``, ``Where``...) that reads one activation ``x``
  and scalar constants, and whose one output leaves the set, computes some ``f(x)``. The chain
  is run on probe values (``PROBE``) with numpy and compared with the functions the IR knows
  (identity, ``gelu`` exact and tanh, ``silu``, ``sigmoid``, ``tanh``, ``relu``, ``relu6``,
  ``hardsigmoid``, ``hardswish``); a match becomes that one op (identity: no op). This is how
  ``gelu_new`` (``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``), the Erf GELU in any
  operand order, and the exporter's NaN guard after a softmax (``Where(IsNaN(s), 0, s)``)
  arrive as the ops the zoo builds.
* **RMS norm**: ``x * 1 / sqrt(mean(x^2, last axis) + eps) (* weight)`` (``Pow`` or ``Mul``,
  ``ReduceMean``, ``Add``, ``Sqrt`` with ``Reciprocal`` or ``Div``, or ``Rsqrt``).
* **Rotary embedding**: ``x * cos + concat(-x2, x1) * sin`` with constant tables.
"""

from __future__ import annotations

import math

import numpy as np

from ._onnx_proto import attrs, onnx_module

PROBE = np.concatenate([np.linspace(-7.0, 7.0, 141), [-0.3, 0.01, 0.5, 2.5, 3.0, 6.0]])
"""Probe values of an elementwise chain: both signs, the kinks of ReLU6 / hard-sigmoid (0, +-3,
6) and the tails (assumed; a function the IR knows differs from the others on these)."""
MATCH_TOL = 2e-3
"""Largest difference from a known function still called a match (assumed: the tanh GELU is
within 1e-3 of the exact one at worst, so the two are told apart by checking the closer)."""

ELEMENTWISE = frozenset({"Pow", "Mul", "Add", "Sub", "Div", "Tanh", "Erf", "Sqrt", "Reciprocal",
                         "Sigmoid", "Neg", "IsNaN", "Where", "Not", "Cast", "Identity", "Relu",
                         "Clip", "Max", "Min", "Abs", "Exp", "HardSigmoid", "HardSwish"})


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


KNOWN = {
    "identity": lambda x: x,
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    "gelu_tanh": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi)
                                                   * (x + 0.044715 * x ** 3))),
    "silu": lambda x: x * _sig(x),
    "sigmoid": _sig,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "hardsigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
    "hardswish": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
}
_IR_FN = {"gelu_tanh": "gelu"}  # the IR has one GELU (the tanh form costs the same)


def small_constants(model, nodes, act: set[str]) -> dict:
    """Values of the graph's small constant tensors: initializers with data (at most 64
    elements), ``Constant`` outputs, and casts / reshapes of those."""
    onnx = onnx_module()
    vals = {}
    for t in model.graph.initializer:
        if math.prod(t.dims) <= 64 and (t.raw_data or t.float_data or t.int64_data
                                        or t.int32_data or t.double_data):
            try:
                vals[t.name] = onnx.numpy_helper.to_array(t)
            except Exception:  # an unreadable tensor stays unknown
                continue
    for n in nodes:
        if n.op_type == "Constant" and "value" in attrs(n):
            vals[n.output[0]] = onnx.numpy_helper.to_array(attrs(n)["value"])
        elif n.op_type in ("Cast", "Identity", "Reshape", "Unsqueeze", "Squeeze") \
                and n.input and n.input[0] in vals and n.output[0] not in act:
            vals[n.output[0]] = np.asarray(vals[n.input[0]], dtype=np.float64).reshape(-1)[:1] \
                if np.size(vals[n.input[0]]) == 1 else vals[n.input[0]]
    return vals


def _run(node, ins):
    t, a = node.op_type, attrs(node)
    x = ins[0]
    with np.errstate(all="ignore"):
        if t == "Pow":
            return np.power(x, ins[1])
        if t in ("Mul", "Add", "Sub", "Div", "Max", "Min"):
            f = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract, "Div": np.divide,
                 "Max": np.maximum, "Min": np.minimum}[t]
            return f(x, ins[1])
        if t in ("Tanh", "Sqrt", "Abs", "Exp"):
            return getattr(np, t.lower())(x)
        if t == "Erf":
            return np.vectorize(math.erf)(x)
        if t == "Reciprocal":
            return 1.0 / x
        if t == "Sigmoid":
            return _sig(x)
        if t == "Neg":
            return -x
        if t == "IsNaN":
            return np.isnan(x)
        if t == "Not":
            return ~x.astype(bool)
        if t == "Where":
            return np.where(np.asarray(x, dtype=bool), ins[1], ins[2])
        if t in ("Cast", "Identity"):
            return x
        if t == "Relu":
            return np.maximum(x, 0)
        if t == "Clip":
            lo = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("min", -np.inf)
            hi = ins[2] if len(ins) > 2 and ins[2] is not None else a.get("max", np.inf)
            return np.clip(x, lo, hi)
        if t == "HardSigmoid":
            return np.clip(a.get("alpha", 0.2) * x + a.get("beta", 0.5), 0, 1)
        if t == "HardSwish":
            return x * np.clip(x / 6 + 0.5, 0, 1)
    raise KeyError(t)


def _grow(x: str, consumers, act: set[str], consts: dict, taken: set[int]):
    """The elementwise nodes reachable from ``x`` that read only ``x``, the set's own outputs
    and scalar constants, in order."""
    inside, region, frontier = {x}, [], [x]
    while frontier:
        t = frontier.pop()
        for n in consumers.get(t, []):
            if n is None or id(n) in taken or n.op_type not in ELEMENTWISE \
                    or any(id(n) == id(r) for r in region):
                continue
            ok = all(not i or i in inside or (i in consts and np.size(consts[i]) == 1)
                     for i in n.input)
            if ok and all(o not in consts for o in n.output):
                region.append(n)
                inside.update(o for o in n.output if o)
                frontier.extend(o for o in n.output if o)
    return region, inside


def _order(region, x):
    done, out = {x}, []
    pending = list(region)
    while pending:
        for n in pending:
            if all(not i or i in done or i not in {o for r in region for o in r.output}
                   for i in n.input):
                out.append(n)
                done.update(n.output)
                pending.remove(n)
                break
        else:
            return None
    return out


def elementwise_fusions(nodes, consumers, act: set[str], consts: dict, taken: set[int]) -> dict:
    """``{id(last node): (fn or 'identity', x, ids of the nodes, output tensor)}``."""
    found = {}
    for x in [t for n in nodes for t in n.output if t in act] + sorted(act - {
            t for n in nodes for t in n.output}):
        region, inside = _grow(x, consumers, act, consts, taken)
        if not region:
            continue
        outs = [o for n in region for o in n.output
                if any(c is None or id(c) not in {id(r) for r in region}
                       for c in consumers.get(o, []))]
        order = _order(region, x)
        if len(outs) != 1 or order is None:
            continue
        vals = {x: PROBE}
        try:
            for n in order:
                ins = [vals.get(i, consts.get(i)) if i else None for i in n.input]
                vals[n.output[0]] = _run(n, [None if v is None else np.asarray(v, np.float64)
                                             if not isinstance(v, np.ndarray) or v.dtype != bool
                                             else v for v in ins])
        except (KeyError, TypeError, ValueError):
            continue
        y = np.asarray(vals.get(outs[0]), dtype=np.float64)
        if y.shape != PROBE.shape:
            continue
        errs = {k: float(np.nanmax(np.abs(y - f(PROBE)))) for k, f in KNOWN.items()}
        best = min(errs, key=errs.get)
        if errs[best] <= MATCH_TOL:
            last = next(n for n in region if outs[0] in n.output)
            ids = {id(n) for n in region}
            found[id(last)] = (_IR_FN.get(best, best), x, ids, outs[0])
            taken |= ids
    return found


def _one(consumers, t, op_type):
    cs = consumers.get(t, [])
    return cs[0] if len(cs) == 1 and cs[0] is not None and cs[0].op_type == op_type else None


def rms_fusions(nodes, consumers, producer, act: set[str], consts: dict, shapes) -> dict:
    """``{id(last): ('rmsnorm', x, ids, out, weight tensor or None)}``."""
    found = {}
    for mean in nodes:
        if mean.op_type != "ReduceMean" or mean.input[0] not in act:
            continue
        sq = producer.get(mean.input[0])
        if sq is None or not ((sq.op_type == "Pow" and np.size(consts.get(sq.input[1], 0)) == 1
                               and float(np.asarray(consts.get(sq.input[1], 0)).reshape(-1)[0])
                               == 2.0) or (sq.op_type == "Mul" and sq.input[0] == sq.input[1])):
            continue
        x = sq.input[0]
        chain = [sq, mean]
        add = _one(consumers, mean.output[0], "Add")
        if add is None:
            continue
        chain.append(add)
        t = add.output[0]
        r = _one(consumers, t, "Sqrt")
        if r is not None:
            chain.append(r)
            inv = _one(consumers, r.output[0], "Reciprocal") or _one(
                consumers, r.output[0], "Div")
            if inv is None:
                continue
            chain.append(inv)
            t = inv.output[0]
        m = _one(consumers, t, "Mul")
        if m is None or x not in m.input:
            continue
        chain.append(m)
        t, weight = m.output[0], None
        nxt = _one(consumers, t, "Cast")
        if nxt is not None:
            chain.append(nxt)
            t = nxt.output[0]
        wm = _one(consumers, t, "Mul")
        if wm is not None:
            other = [i for i in wm.input if i != t]
            if len(other) == 1 and other[0] not in act:
                chain.append(wm)
                t, weight = wm.output[0], other[0]
        found[id(chain[-1])] = ("rmsnorm", x, {id(n) for n in chain}, t, weight)
    return found


def rope_fusions(nodes, consumers, producer, act: set[str]) -> dict:
    """``{id(add): ('rope', x, ids, out)}`` for ``x * c1 + concat(-x_hi, x_lo) * c2``."""
    found = {}
    for add in nodes:
        if add.op_type != "Add" or not all(i in act for i in add.input):
            continue
        for a, b in (add.input, add.input[::-1]):
            m1, m2 = producer.get(a), producer.get(b)
            if m1 is None or m2 is None or m1.op_type != "Mul" or m2.op_type != "Mul":
                continue
            xs = [i for i in m1.input if i in act]
            rs = [i for i in m2.input if i in act]
            if len(xs) != 1 or len(rs) != 1:
                continue
            cat = producer.get(rs[0])
            if cat is None or cat.op_type != "Concat" or len(cat.input) != 2:
                continue
            neg, lo = producer.get(cat.input[0]), producer.get(cat.input[1])
            hi = producer.get(neg.input[0]) if neg is not None and neg.op_type == "Neg" else None
            if lo is None or hi is None or lo.op_type != "Slice" or hi.op_type != "Slice" \
                    or lo.input[0] != xs[0] or hi.input[0] != xs[0]:
                continue
            chain = [m1, m2, cat, neg, lo, hi, add]
            if any(len(consumers.get(c.output[0], [])) != 1 for c in chain[:-1]):
                continue
            found[id(add)] = ("rope", xs[0], {id(n) for n in chain}, add.output[0])
            break
    return found


def _scalar_of(consts: dict, t: str):
    v = consts.get(t)
    return None if v is None or np.size(v) != 1 else float(np.asarray(v).reshape(-1)[0])


def layernorm_fusions(nodes, consumers, producer, act: set[str], consts: dict) -> dict:
    """LayerNormalization written out (opsets before 17): ``d = x - mean(x)``,
    ``d / sqrt(mean(d^2) + eps)`` (``* weight + bias``) over the last axis:
    ``{id(last): ('layernorm', x, ids, out, weight or None, bias or None)}``."""
    found = {}
    for m1 in nodes:
        if m1.op_type != "ReduceMean" or m1.input[0] not in act:
            continue
        x = m1.input[0]
        sub = next((c for c in consumers.get(m1.output[0], []) if c is not None
                    and c.op_type == "Sub" and list(c.input) == [x, m1.output[0]]), None)
        if sub is None:
            continue
        d = sub.output[0]
        users = [c for c in consumers.get(d, []) if c is not None]
        sq = next((c for c in users if (c.op_type == "Pow" and _scalar_of(consts, c.input[1])
                                        == 2.0) or (c.op_type == "Mul" and c.input[0]
                                                    == c.input[1] == d)), None)
        div = next((c for c in users if c.op_type == "Div" and c.input[0] == d), None)
        if sq is None or div is None or len(users) != 2:
            continue
        m2 = _one(consumers, sq.output[0], "ReduceMean")
        add = _one(consumers, m2.output[0], "Add") if m2 is not None else None
        root = _one(consumers, add.output[0], "Sqrt") if add is not None else None
        if root is None or div.input[1] != root.output[0]:
            continue
        chain, t, weight, bias = [m1, sub, sq, m2, add, root, div], div.output[0], None, None
        mul = _one(consumers, t, "Mul")
        if mul is not None and any(i not in act and i != t for i in mul.input):
            chain.append(mul)
            weight, t = next(i for i in mul.input if i != t), mul.output[0]
        plus = _one(consumers, t, "Add")
        if plus is not None and any(i not in act and i != t for i in plus.input):
            chain.append(plus)
            bias, t = next(i for i in plus.input if i != t), plus.output[0]
        found[id(chain[-1])] = ("layernorm", x, {id(n) for n in chain}, t, weight, bias)
    return found
