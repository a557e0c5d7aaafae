"""Subgraphs of an exported program that are one op of the IR: activation and RMS-norm modules,
and rotary position embeddings.

A module whose class computes one elementwise function or one norm (``NewGELUActivation``,
``LlamaRMSNorm``, ...) is exported as a chain of ATen ops (``pow``, ``tanh``, ``rsqrt``...).
The chain is recognised by the class name of the innermost module the nodes run in (the
``nn_module_stack`` torch.export records), so the graph gets the op the zoo builds (a ``gelu``;
a ``layernorm`` with ``attrs['norm'] == 'rms'``) rather than six elementwise ops. The rule is by
name suffix, the convention of the modelling code of Hugging Face ``transformers``:

* a class name ending in ``RMSNorm`` (or ``T5LayerNorm``, which is one) -> RMS norm;
* a class name containing ``GELU`` (``GELUActivation``, ``NewGELUActivation``,
  ``FastGELUActivation``, ``GELUTanh`` ...) -> ``gelu``.

A chain is fused only when it reads one activation from outside and one of its nodes is read
outside (otherwise each node is translated on its own). Rotary embeddings
(``x * cos + rotate_half(x) * sin``, a function in the modelling code, not a module) are found
by their shape: an ``add`` of ``mul(x, c1)`` and ``mul(cat(neg(slice(x)), slice(x)), c2)`` (or,
interleaved as in GPT-J, ``mul(flatten(stack((neg(x[..., 1::2]), x[..., ::2]))), c2)``) with
``c1``, ``c2`` constants becomes one ``rope`` op on ``x``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._torch_check import ALIASES, IGNORED, packet

FUSED_SUFFIX = (("RMSNorm", "rmsnorm"), ("T5LayerNorm", "rmsnorm"))
FUSED_CONTAINS = (("GELU", "gelu"),)


@dataclass(frozen=True)
class Fusion:
    """One fused chain: its kind, its input node's name, the output node's name, its nodes."""

    kind: str  # "gelu", "rmsnorm", "rope"
    x: str
    out: str
    nodes: frozenset
    module: str = ""
    interleaved: bool = False  # a rope that rotates pairs (2i, 2i + 1)


def _kind_of(cls) -> str | None:
    name = (cls if isinstance(cls, str) else getattr(cls, "__name__", str(cls))).rsplit(".", 1)[-1]
    for suffix, kind in FUSED_SUFFIX:
        if name.endswith(suffix):
            return kind
    for part, kind in FUSED_CONTAINS:
        if part in name:
            return kind
    return None


def _module_of(n) -> tuple[str, str] | None:
    """``(module path, fused kind)`` of the innermost fusable module node ``n`` runs in."""
    stack = n.meta.get("nn_module_stack") or {}
    for path, cls in reversed(list(stack.values())):
        kind = _kind_of(cls)
        if kind is not None:
            return path, kind
    return None


def _inputs(n) -> list:
    return list(n.all_input_nodes)


def module_fusions(nodes, acts: set[str]) -> list[Fusion]:
    """Chains of activation nodes run by one fusable module instance (consecutive runs)."""
    runs: list[tuple[str, str, list, set]] = []
    for n in nodes:
        if n.op != "call_function" or n.name not in acts:
            continue
        mod = _module_of(n)
        if mod is None or packet(n) in IGNORED:
            continue
        inside = bool(runs) and runs[-1][0] == mod[0] and any(
            i.name in {m.name for m in runs[-1][2]} for i in _inputs(n))
        if packet(n) in ALIASES and not inside:  # a cast of the input: translated as itself
            continue
        reads = {i.name for i in _inputs(n) if i.name in acts}
        if runs and runs[-1][0] == mod[0] and (
                reads & {m.name for m in runs[-1][2]} or reads <= runs[-1][3]):
            runs[-1][2].append(n)  # the same call of the module (not a shared module's next)
        else:
            runs.append((mod[0], mod[1], [n], reads))
    found = []
    for path, kind, members, _ in runs:
        names = {m.name for m in members}
        ext_in = {i.name for m in members for i in _inputs(m) if i.name in acts
                  and i.name not in names}
        outs = [m for m in members if any(u.name not in names and packet(u) not in IGNORED
                                          for u in m.users)]
        if len(ext_in) == 1 and len(outs) == 1:
            found.append(Fusion(kind, ext_in.pop(), outs[0].name, frozenset(names), path))
    return found


def _src(n, p: str):
    return n if n is not None and hasattr(n, "target") and packet(n) == p else None


def rope_fusions(nodes, acts: set[str]) -> list[Fusion]:
    """``x * cos + rotate_half(x) * sin`` with constant ``cos``, ``sin`` -> one rope on x."""
    found = []
    for n in nodes:
        if n.op != "call_function" or packet(n) != "add" or n.name not in acts:
            continue
        ins = [a for a in n.args[:2] if hasattr(a, "target")]
        if len(ins) != 2:
            continue
        for m1, m2 in (ins, ins[::-1]):
            f = _rope(m1, m2, acts)
            if f is not None:
                found.append(Fusion("rope", f[0], n.name, frozenset(f[1] | {n.name}),
                                    interleaved=f[2]))
                break
    return found


def _act_and_const(m, acts):
    """``(activation arg, the other arg is a constant)`` of a binary ``mul`` node."""
    if _src(m, "mul") is None or len(m.args) < 2:
        return None, False
    a, b = m.args[0], m.args[1]
    for x, c in ((a, b), (b, a)):
        if hasattr(x, "name") and x.name in acts and not (hasattr(c, "name") and c.name in acts):
            return x, True
    return None, False


def _rope(m1, m2, acts):
    x, ok1 = _act_and_const(m1, acts)
    r, ok2 = _act_and_const(m2, acts)
    if not (ok1 and ok2):
        return None
    cat, flat = _src(r, "cat"), None
    if cat is None and r is not None and hasattr(r, "target") and packet(r) in (
            "flatten", "view", "reshape", "_unsafe_view"):
        flat, cat = r, _src(r.args[0], "stack")  # interleaved: stack((-x_odd, x_even), -1)
    if cat is None or len(cat.args[0]) != 2:
        return None
    neg, lo = cat.args[0]
    neg = _src(neg, "neg")
    lo = _src(lo, "slice")
    hi = _src(neg.args[0], "slice") if neg is not None else None
    if lo is None or hi is None or lo.args[0] is not x or hi.args[0] is not x:
        return None
    chain = [m1, m2, cat, neg, lo, hi] + ([flat] if flat is not None else [])
    if any(len(c.users) != 1 for c in chain):  # the pieces are used only here
        return None
    return x.name, {c.name for c in chain}, flat is not None


def repeat_kv(nodes, acts: set[str]) -> dict:
    """Grouped-query attention's ``repeat_kv``: ``reshape(expand(unsqueeze(kv, 2)))`` that copies
    each key/value head ``group`` times, read only as the key or value of an attention.
    ``{reshape node: (kv node, group, the three nodes)}``: the attention regroups its queries
    instead (as the LLaMA builder does), so no copy is made."""
    found = {}
    for n in nodes:
        if n.op != "call_function" or n.name not in acts or packet(n) not in ("reshape", "view",
                                                                               "_unsafe_view"):
            continue
        exp = _src(n.args[0], "expand")
        uns = _src(exp.args[0], "unsqueeze") if exp is not None else None
        if uns is None or len(exp.users) != 1 or len(uns.users) != 1:
            continue
        if not all(packet(u) == "scaled_dot_product_attention" and n in u.args[1:3]
                   for u in n.users):
            continue
        src, out = uns.args[0].meta.get("val"), n.meta.get("val")
        if src is None or out is None or len(src.shape) != 4 or uns.args[1] != 2:
            continue
        group = int(out.shape[1]) // int(src.shape[1])
        if tuple(out.shape) != (src.shape[0], src.shape[1] * group, *src.shape[2:]):
            continue
        found[n.name] = (uns.args[0].name, group, frozenset({n.name, exp.name, uns.name}))
    return found
