"""The graph IR: shape inference, MAC and parameter counts, validation, sparsify, densities."""

from __future__ import annotations

import json

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wse_sim.errors import GraphError, SparsityError, WseSimError
from wse_sim.graph import RELU_OUTPUT_DENSITY, Graph, Op, sparsify


def op_of(g: Graph, name: str) -> Op:
    return g.op(name)


# ---- shape inference and counts, builder by builder --------------------------------------
def test_dense_shapes_and_counts():
    g = Graph("t")
    x = g.input("x", (4, 8))  # 4 rows (e.g. tokens) of 8 features
    op = op_of(g, g.dense("fc", x, 16))
    assert op.out_shape == (4, 16)
    assert op.in_shapes == ((4, 8),)
    assert op.weight_shape == (8, 16)
    assert op.params == 8 * 16 + 16 == 144
    assert op.macs_fwd == 4 * 8 * 16 == 512
    assert op.macs_bwd_input == 512 and op.macs_bwd_weight == 512
    assert op.training_macs == 3 * 512
    assert op.heavy and op.kind == "dense"
    nobias = op_of(g, g.dense("fc_nb", x, 16, bias=False))
    assert nobias.params == 128


def test_dense_on_a_3d_input_multiplies_leading_dims():
    g = Graph("t")
    x = g.input("x", (2, 3, 5))
    op = op_of(g, g.dense("fc", x, 7))
    assert op.out_shape == (2, 3, 7)
    assert op.macs_fwd == 2 * 3 * 5 * 7


def test_dense_tied_to_embedding_counts_only_its_bias():
    g = Graph("t")
    tok = g.input("tok", (6,))
    emb = g.embedding("emb", tok, vocab=100, dim=8)
    head = op_of(g, g.dense("head", emb, 100, tied_to="emb"))
    assert head.out_shape == (6, 100)
    assert head.params == 100  # bias only; the table is counted once, in the embedding
    assert head.macs_fwd == 6 * 8 * 100
    assert g.total_params == 100 * 8 + 100
    with pytest.raises(GraphError, match="tied_to"):
        g.dense("bad_tie", emb, 50, tied_to="emb")  # (50, 8) is not the table's shape


def test_matmul_shapes_and_counts():
    g = Graph("t")
    a = g.input("a", (2, 3, 4))
    b = g.input("b", (2, 4, 5))
    op = op_of(g, g.matmul("m", a, b))
    assert op.out_shape == (2, 3, 5)
    assert op.macs_fwd == 2 * 3 * 4 * 5 == 120
    assert op.macs_bwd_input == 240  # gradients of both operands
    assert op.macs_bwd_weight == 0 and op.params == 0
    assert op.in_shapes == ((2, 3, 4), (2, 4, 5))


def test_matmul_transpose_b_is_attention_scores():
    g = Graph("t")
    q = g.input("q", (16, 128, 64))  # heads, seq, d_head
    k = g.input("k", (16, 128, 64))
    op = op_of(g, g.matmul("scores", q, k, transpose_b=True))
    assert op.out_shape == (16, 128, 128)
    assert op.macs_fwd == 16 * 128 * 64 * 128
    with pytest.raises(GraphError):
        g.matmul("scores_nt", q, k)  # without the transpose the inner dims do not meet


@pytest.mark.parametrize(("sa", "sb"), [((2, 3, 4), (2, 5, 4)), ((2, 3, 4), (3, 4, 5)),
                                        ((3, 4), (2, 4, 5)), ((4,), (4,))])
def test_matmul_mismatch_names_op_and_both_shapes(sa, sb):
    g = Graph("t")
    a, b = g.input("a", sa), g.input("b", sb)
    with pytest.raises(GraphError) as info:
        g.matmul("mm_bad", a, b)
    msg = str(info.value)
    assert "mm_bad" in msg and str(sa) in msg and str(sb) in msg


def test_conv2d_same_padding_keeps_size():
    g = Graph("t")
    x = g.input("x", (1, 28, 28))
    op = op_of(g, g.conv2d("c1", x, 64, 3))
    assert op.out_shape == (64, 28, 28)
    assert op.weight_shape == (64, 1, 3, 3)
    assert op.params == 64 * 1 * 9 + 64 == 640
    assert op.macs_fwd == 64 * 28 * 28 * 1 * 9 == 451_584
    assert op.macs_bwd_input == op.macs_bwd_weight == op.macs_fwd


def test_conv2d_stride_two_halves():
    g = Graph("t")
    x = g.input("x", (64, 28, 28))
    op = op_of(g, g.conv2d("c2", x, 32, 3, stride=2))
    assert op.out_shape == (32, 14, 14)
    assert op.macs_fwd == 32 * 14 * 14 * 64 * 9
    odd = op_of(g, g.conv2d("c3", g.input("y", (3, 7, 9)), 4, 3, stride=2))
    assert odd.out_shape == (4, 4, 5)  # ceil(7/2), ceil(9/2)


@pytest.mark.parametrize(("padding", "stride", "expect"), [
    (0, 1, 26),   # valid: 28 - 3 + 1
    (1, 1, 28),
    (2, 1, 30),
    (0, 2, 13),   # (28 - 3) // 2 + 1
])
def test_conv2d_int_padding(padding, stride, expect):
    g = Graph("t")
    x = g.input("x", (2, 28, 28))
    op = op_of(g, g.conv2d("c", x, 5, 3, stride=stride, padding=padding, bias=False))
    assert op.out_shape == (5, expect, expect)
    assert op.params == 5 * 2 * 9
    assert op.macs_fwd == 5 * expect * expect * 2 * 9


def test_conv2d_rejects_bad_inputs():
    g = Graph("t")
    flat = g.input("flat", (10,))
    with pytest.raises(GraphError, match=r"conv_flat.*\(10,\)"):
        g.conv2d("conv_flat", flat, 4, 3)
    img = g.input("img", (1, 4, 4))
    with pytest.raises(GraphError, match="valid"):
        g.conv2d("c_str", img, 4, 3, padding="valid")
    with pytest.raises(GraphError, match="c_big"):
        g.conv2d("c_big", img, 4, 7, padding=0)
    with pytest.raises(GraphError, match="kernel"):
        g.conv2d("c_k0", img, 4, 0)
    with pytest.raises(GraphError, match="out_channels"):
        g.conv2d("c_c0", img, 0, 3)


@given(h=st.integers(1, 40), k=st.sampled_from([1, 3, 5, 7]), s=st.integers(1, 3))
def test_conv2d_same_is_ceil_h_over_stride(h, k, s):
    g = Graph("t")
    x = g.input("x", (1, h, h))
    assert op_of(g, g.conv2d("c", x, 1, k, stride=s)).out_shape == (1, -(-h // s), -(-h // s))


def test_conv_transpose2d_same_doubles():
    g = Graph("t")
    x = g.input("x", (8, 7, 7))
    op = op_of(g, g.conv_transpose2d("up", x, 4, 3, stride=2))
    assert op.out_shape == (4, 14, 14)
    assert op.weight_shape == (8, 4, 3, 3)  # (c_in, c_out, kh, kw)
    assert op.params == 8 * 4 * 9 + 4 == 292
    # every input element scatters into k*k*c_out outputs
    assert op.macs_fwd == 8 * 7 * 7 * 4 * 9 == 14_112
    assert op.heavy


@given(h=st.integers(1, 30), k=st.integers(1, 7), s=st.integers(1, 4))
def test_conv_transpose2d_same_is_h_times_stride(h, k, s):
    g = Graph("t")
    x = g.input("x", (2, h, h))
    op = op_of(g, g.conv_transpose2d("u", x, 3, k, stride=s))
    assert op.out_shape == (3, h * s, h * s)
    # the recorded geometry is one a framework could run: no negative padding
    assert op.attrs["padding"] >= 0 and op.attrs["output_padding"] >= 0
    assert (h - 1) * s - 2 * op.attrs["padding"] + k + op.attrs["output_padding"] == h * s


def test_conv_transpose2d_int_padding():
    g = Graph("t")
    x = g.input("x", (2, 7, 7))
    op = op_of(g, g.conv_transpose2d("u", x, 3, 3, stride=2, padding=1))
    assert op.out_shape == (3, 13, 13)  # (7 - 1) * 2 - 2 + 3
    op = op_of(g, g.conv_transpose2d("u2", x, 3, 3, stride=2, padding=1, output_padding=1))
    assert op.out_shape == (3, 14, 14)
    with pytest.raises(GraphError, match="u_flat"):
        g.conv_transpose2d("u_flat", g.input("f", (5,)), 3, 3)


def test_pooling():
    g = Graph("t")
    x = g.input("x", (4, 28, 28))
    mx = op_of(g, g.pool("mx", x, 2))
    assert mx.out_shape == (4, 14, 14)  # stride defaults to the kernel
    assert mx.vector_ops == 4 * 14 * 14 * 4
    assert mx.params == 0 and mx.macs_fwd == 0 and not mx.heavy
    av = op_of(g, g.pool("av", x, 3, stride=1, kind="avg"))
    assert av.out_shape == (4, 26, 26)
    pad = op_of(g, g.pool("pad", x, 3, stride=2, padding=1))
    assert pad.out_shape == (4, 14, 14)  # ResNet's stem pool: (28 + 2 - 3) // 2 + 1
    gap = op_of(g, g.pool("gap", x, kind="global_avg"))
    assert gap.out_shape == (4,)
    assert gap.vector_ops == 4 * 28 * 28
    with pytest.raises(GraphError, match="median"):
        g.pool("bad", x, 2, kind="median")
    with pytest.raises(GraphError, match="kernel"):
        g.pool("nok", x)  # max pooling needs a kernel
    with pytest.raises(GraphError, match="p_flat"):
        g.pool("p_flat", g.input("f", (5,)), 2)


def test_embedding():
    g = Graph("t")
    tok = g.input("tok", (128,))
    op = op_of(g, g.embedding("emb", tok, vocab=30522, dim=1024))
    assert op.out_shape == (128, 1024)
    assert op.weight_shape == (30522, 1024)
    assert op.params == 30522 * 1024
    assert op.macs_fwd == 0 and op.heavy


def test_norms():
    g = Graph("t")
    h = g.input("h", (6, 8))
    ln = op_of(g, g.layernorm("ln", h))
    assert ln.out_shape == (6, 8)
    assert ln.weight_shape == (8,) and ln.params == 16
    img = g.input("img", (4, 5, 5))
    bn = op_of(g, g.batchnorm("bn", img))
    assert bn.out_shape == (4, 5, 5)
    assert bn.weight_shape == (4,) and bn.params == 8  # per channel, not per element
    assert not ln.heavy and not bn.heavy


def test_softmax_and_elementwise():
    g = Graph("t")
    a = g.input("a", (3, 5))
    b = g.input("b", (3, 5))
    sm = op_of(g, g.softmax("sm", a))
    assert sm.out_shape == (3, 5) and sm.params == 0 and sm.vector_ops > 0
    ge = op_of(g, g.gelu("ge", a))
    assert ge.out_shape == (3, 5) and ge.attrs["fn"] == "gelu"
    sg = op_of(g, g.sigmoid("sg", a))
    assert sg.attrs["fn"] == "sigmoid"
    add = op_of(g, g.add_("sum", a, b))
    assert add.out_shape == (3, 5) and add.inputs == ("a", "b")
    assert add.vector_ops == 15
    assert op_of(g, g.elementwise("mul", "mul", a, b)).out_shape == (3, 5)


def test_elementwise_mismatch_names_op_and_both_shapes():
    g = Graph("t")
    a = g.input("a", (3, 5))
    b = g.input("b", (5, 3))
    with pytest.raises(GraphError) as info:
        g.add_("resid", a, b)
    msg = str(info.value)
    assert "resid" in msg and "(3, 5)" in msg and "(5, 3)" in msg


def test_elementwise_arity_and_unknown_fn():
    g = Graph("t")
    a = g.input("a", (3,))
    with pytest.raises(GraphError, match="add"):
        g.elementwise("one", "add", a)
    with pytest.raises(GraphError, match="relu"):
        g.elementwise("two", "relu", a, a)
    with pytest.raises(GraphError, match="swish"):
        g.elementwise("unk", "swish", a)


def test_reshape_and_transpose():
    g = Graph("t")
    x = g.input("x", (2, 3, 4))
    assert op_of(g, g.reshape("flat", x, (24,))).out_shape == (24,)
    assert op_of(g, g.reshape("r", x, [6, 4])).out_shape == (6, 4)
    with pytest.raises(GraphError) as info:
        g.reshape("bad_r", x, (5, 5))
    assert "bad_r" in str(info.value) and "(2, 3, 4)" in str(info.value)
    assert "(5, 5)" in str(info.value)
    tr = op_of(g, g.transpose("tr", x, (2, 0, 1)))
    assert tr.out_shape == (4, 2, 3)
    assert tr.macs_fwd == 0 and tr.params == 0
    with pytest.raises(GraphError, match="bad_t"):
        g.transpose("bad_t", x, (0, 0, 1))
    with pytest.raises(GraphError, match="bad_t2"):
        g.transpose("bad_t2", x, (0, 1))


def test_loss():
    g = Graph("t")
    y = g.input("y", (10,))
    z = g.input("z", (3, 4))
    op = op_of(g, g.loss("loss", y, z, fn="bce+kl"))
    assert op.out_shape == (1,)
    assert op.inputs == ("y", "z")
    assert op.in_shapes == ((10,), (3, 4))
    assert op.attrs["fn"] == "bce+kl"
    assert op.vector_ops > 0


def test_positive_sizes_required():
    g = Graph("t")
    with pytest.raises(GraphError, match="0"):
        g.input("x0", (4, 0))
    x = g.input("x", (4,))
    with pytest.raises(GraphError) as info:
        g.dense("fc0", x, 0)
    assert "fc0" in str(info.value) and "0" in str(info.value)
    with pytest.raises(GraphError):
        g.dense("fc_float", x, 2.5)
    with pytest.raises(GraphError):
        g.embedding("e0", x, vocab=-1, dim=4)


def test_dtype():
    with pytest.raises(GraphError, match="int4"):
        Graph("t", dtype="int4")
    g = Graph("t", dtype="fp32")
    x = g.input("x", (4,))
    op = op_of(g, g.dense("fc", x, 2))
    assert op.dtype == "fp32" and op.dtype_bytes == 4
    h = Graph("h")
    assert op_of(h, h.input("x", (1,))).dtype_bytes == 2


def test_op_size_properties():
    g = Graph("t")
    a = g.input("a", (3, 4))
    b = g.input("b", (3, 4))
    s = op_of(g, g.add_("s", a, b))
    assert s.in_elems == 24 and s.out_elems == 12
    fc = op_of(g, g.dense("fc", s.name, 5))
    assert fc.weight_count == 20
    assert s.weight_count == 0


# ---- whole-graph totals --------------------------------------------------------------------
def mlp() -> Graph:
    g = Graph("mlp")
    x = g.input("x", (784,))
    h = g.relu("relu1", g.dense("fc1", x, 256))
    g.dense("fc2", h, 10)
    return g


def test_totals_by_hand():
    g = mlp()
    assert g.total_params == (784 * 256 + 256) + (256 * 10 + 10) == 203_530
    assert g.forward_macs == 784 * 256 + 256 * 10 == 203_264
    assert g.training_macs == 3 * 203_264
    assert len(g) == 4
    assert "fc1" in g and "nope" not in g


def test_training_macs_include_matmul_operand_gradients():
    g = Graph("t")
    a = g.input("a", (3, 4))
    b = g.input("b", (4, 5))
    g.matmul("m", a, b)
    assert g.forward_macs == 60
    assert g.training_macs == 60 + 2 * 60


# ---- structure: duplicates, unknown inputs, cycles, order ---------------------------------
def test_duplicate_names_rejected():
    g = Graph("t")
    x = g.input("x", (4,))
    g.dense("fc", x, 4)
    with pytest.raises(GraphError, match="'fc'") as info:
        g.dense("fc", x, 4)
    assert "duplicate" in str(info.value)
    with pytest.raises(GraphError, match="'x'"):
        g.input("x", (4,))
    assert len(g) == 2  # the failed adds left nothing behind


def test_unknown_input_rejected():
    g = Graph("t")
    g.input("x", (4,))
    with pytest.raises(GraphError, match="'nope'"):
        g.dense("fc", "nope", 4)
    with pytest.raises(GraphError, match="'nope'"):
        g.add(Op("r", "elementwise", inputs=("nope",), in_shapes=((4,),), out_shape=(4,)))
    with pytest.raises(GraphError, match="'ghost'"):
        g.op("ghost")
    assert "fc" not in g and "r" not in g


def test_unknown_kind_rejected():
    g = Graph("t")
    with pytest.raises(GraphError, match="lstm"):
        g.add(Op("l", "lstm"))
    with pytest.raises(GraphError, match="lstm"):
        Graph.from_ops("t", [Op("l", "lstm")])


def test_cycle_raises_naming_the_ops():
    ops = [
        Op("x", "input", out_shape=(4,)),
        # 'enc' reads 'dec', which is defined after it and reads 'enc': a cycle
        Op("enc", "elementwise", inputs=("x", "dec"), in_shapes=((4,), (4,)), out_shape=(4,),
           attrs={"fn": "add"}),
        Op("dec", "elementwise", inputs=("enc",), in_shapes=((4,),), out_shape=(4,),
           attrs={"fn": "relu"}),
    ]
    with pytest.raises(GraphError, match="cycle") as info:
        Graph.from_ops("loop", ops)
    msg = str(info.value)
    assert "enc" in msg and "dec" in msg and "loop" in msg


def test_self_loop_is_a_cycle():
    ops = [Op("a", "elementwise", inputs=("a",), in_shapes=((4,),), out_shape=(4,))]
    with pytest.raises(GraphError, match="cycle"):
        Graph.from_ops("self", ops)


def test_from_ops_accepts_any_order_and_sorts_topologically():
    ops = [
        Op("y", "elementwise", inputs=("x",), in_shapes=((4,),), out_shape=(4,)),
        Op("x", "input", out_shape=(4,)),
    ]
    g = Graph.from_ops("t", ops)
    assert [op.name for op in g.ops()] == ["x", "y"]
    with pytest.raises(GraphError, match="'zz'"):
        Graph.from_ops("t", [Op("y", "elementwise", inputs=("zz",))])
    with pytest.raises(GraphError, match="empty"):
        Graph.from_ops("t", [])


def test_ops_order_is_deterministic_insertion_topological():
    g = Graph("t")
    x = g.input("x", (4,))
    b = g.relu("b", x)
    a = g.gelu("a", x)  # inserted after 'b': ties keep insertion order, not alphabetical
    g.add_("s", a, b)
    assert [op.name for op in g.ops()] == ["x", "b", "a", "s"]
    assert sorted(g.successors("x")) == ["a", "b"]
    assert [op.name for op in g.heavy_ops()] == []


def test_nx_graph_is_read_only():
    g = mlp()
    view = g.nx_graph
    assert set(view.nodes) == {"x", "fc1", "relu1", "fc2"}
    assert view.has_edge("fc1", "relu1")
    with pytest.raises(nx.NetworkXError):
        view.add_node("intruder")
    assert "intruder" not in g


def test_validate_empty_graph():
    with pytest.raises(GraphError, match="empty"):
        Graph("nothing").validate()


# ---- summary and to_dict --------------------------------------------------------------------
def test_summary_lists_every_op_and_the_totals():
    g = mlp()
    text = g.summary()
    for op in g.ops():
        assert op.name in text
    assert f"{g.total_params:,}" in text
    assert f"{g.forward_macs:,}" in text
    assert f"{g.training_macs:,}" in text
    assert "mlp" in text and "4 ops" in text
    # one line per op plus header, rule and totals
    assert len(text.splitlines()) == len(g) + 3


def test_to_dict_round_trips_counts():
    g = mlp()
    conv = Graph("cnn")
    x = conv.input("img", (3, 16, 16))
    c = conv.conv2d("c", x, 8, 3)
    conv.transpose("t", conv.batchnorm("bn", c), (1, 2, 0))
    for graph in (g, conv):
        d = json.loads(json.dumps(graph.to_dict()))
        assert d["params"] == graph.total_params
        assert d["forward_macs"] == graph.forward_macs
        assert d["training_macs"] == graph.training_macs
        assert sum(o["params"] for o in d["ops"]) == graph.total_params
        assert sum(o["macs_fwd"] for o in d["ops"]) == graph.forward_macs
        assert [o["name"] for o in d["ops"]] == [op.name for op in graph.ops()]

        def revive(o: dict) -> Op:
            o = dict(o)
            o["inputs"] = tuple(o["inputs"])
            o["in_shapes"] = tuple(tuple(s) for s in o["in_shapes"])
            o["out_shape"] = tuple(o["out_shape"])
            o["weight_shape"] = tuple(o["weight_shape"])
            return Op(**o)

        back = Graph.from_ops(d["name"], [revive(o) for o in d["ops"]], dtype=d["dtype"])
        assert back.total_params == graph.total_params
        assert back.forward_macs == graph.forward_macs
        assert back.training_macs == graph.training_macs
        assert [op.out_shape for op in back.ops()] == [op.out_shape for op in graph.ops()]


# ---- sparsify ------------------------------------------------------------------------------
def zoo() -> Graph:
    """One of every weighted kind, plus a matmul and weightless ops."""
    g = Graph("zoo")
    tok = g.input("tok", (8,))
    emb = g.embedding("emb", tok, vocab=50, dim=16)
    ln = g.layernorm("ln", emb)
    q = g.dense("q", ln, 16)
    k = g.dense("k", ln, 16)
    s = g.softmax("sm", g.matmul("scores", q, k, transpose_b=True))
    g.loss("lm_loss", g.dense("out", s, 50))
    img = g.input("img", (1, 8, 8))
    c = g.relu("r", g.batchnorm("bn", g.conv2d("conv", img, 4, 3)))
    g.loss("ae_loss", g.conv_transpose2d("deconv", g.pool("p", c, 2), 1, 3, stride=2))
    return g


DEFAULT_SPARSIFIED = {"q", "k", "out", "conv", "deconv"}


def test_sparsify_returns_a_new_graph_and_leaves_the_original():
    g = zoo()
    before = g.to_dict()
    s = sparsify(g, 0.75, seed=3)
    assert isinstance(s, Graph) and s is not g
    assert g.to_dict() == before
    for op in g.ops():
        assert op.weight_density == 1.0 and op.sparsity_pattern == "dense"
    assert "weight_sparsity" not in g.meta
    assert s.meta["weight_sparsity"] == 0.75
    assert s.meta["sparsity_pattern"] == "unstructured"
    assert s.name == g.name and len(s) == len(g)


def test_sparsify_marks_weighted_ops_only():
    s = sparsify(zoo(), 0.75, seed=3)
    for op in s.ops():
        if op.name in DEFAULT_SPARSIFIED:
            assert op.weight_density == pytest.approx(0.25), op.name
            assert op.sparsity_pattern == "unstructured"
        else:  # embeddings, norms, matmuls and weightless ops stay dense by default
            assert op.weight_density == 1.0, op.name
            assert op.sparsity_pattern == "dense"


def test_sparsify_mask_seeds_are_distinct_and_reproducible():
    g = zoo()
    a = sparsify(g, 0.5, seed=7)
    seeds = [a.op(n).mask_seed for n in sorted(DEFAULT_SPARSIFIED)]
    assert len(set(seeds)) == len(seeds)
    again = sparsify(g, 0.5, seed=7)
    assert [again.op(n).mask_seed for n in sorted(DEFAULT_SPARSIFIED)] == seeds
    assert again.to_dict() == a.to_dict()
    other = sparsify(g, 0.5, seed=8)
    other_seeds = [other.op(n).mask_seed for n in sorted(DEFAULT_SPARSIFIED)]
    assert set(other_seeds).isdisjoint(seeds)


def test_sparsify_named_ops_include_embeddings_and_norms():
    s = sparsify(zoo(), 0.5, ops=["emb", "ln", "bn", "q"])
    for name in ("emb", "ln", "bn", "q"):
        assert s.op(name).weight_density == 0.5, name
    # naming ops restricts sparsification to exactly those
    for name in ("k", "out", "conv", "deconv"):
        assert s.op(name).weight_density == 1.0, name
    seeds = [s.op(n).mask_seed for n in ("emb", "ln", "bn", "q")]
    assert len(set(seeds)) == 4
    with pytest.raises(GraphError, match="nope"):
        sparsify(zoo(), 0.5, ops=["q", "nope"])


@pytest.mark.parametrize("bad", [-0.1, 1.5, "x", True, float("nan")])
def test_sparsify_rejects_bad_sparsity_naming_the_value(bad):
    with pytest.raises(SparsityError) as info:
        sparsify(zoo(), bad)
    assert repr(bad) in str(info.value)
    assert isinstance(info.value, WseSimError)


def test_sparsify_patterns():
    with pytest.raises(SparsityError, match="random"):
        sparsify(zoo(), 0.5, pattern="random")
    nm = sparsify(zoo(), 0.5, pattern="n:m")
    assert nm.op("q").sparsity_pattern == "n:m" and nm.op("q").weight_density == 0.5
    with pytest.raises(SparsityError, match="n:m"):
        sparsify(zoo(), 0.75, pattern="n:m")
    blk = sparsify(zoo(), 0.9, pattern="block")
    assert blk.op("conv").sparsity_pattern == "block"
    assert blk.op("conv").weight_density == pytest.approx(0.1)


def test_sparsify_zero_is_dense():
    s = sparsify(zoo(), 0.0)
    for op in s.ops():
        assert op.weight_density == 1.0 and op.sparsity_pattern == "dense"


def test_sparsify_keeps_shapes():
    g = zoo()
    s = sparsify(g, 0.5)
    assert [(o.name, o.out_shape, o.weight_shape) for o in s.ops()] == [
        (o.name, o.out_shape, o.weight_shape) for o in g.ops()]


# ---- activation densities ------------------------------------------------------------------
def test_relu_and_dropout_densities_propagate():
    g = Graph("t")
    x = g.input("x", (64,))
    assert g.op("x").out_density == 1.0
    r = g.relu("r", g.dense("fc", x, 32))
    assert g.op("fc").out_density == 1.0
    assert g.op(r).out_density == pytest.approx(RELU_OUTPUT_DENSITY)
    d = g.dropout("drop", r, p=0.25)
    assert g.op(d).out_density == pytest.approx(RELU_OUTPUT_DENSITY * 0.75)
    # shape-only ops carry the density through
    rs = g.reshape("rs", d, (4, 8))
    assert g.op(rs).out_density == pytest.approx(RELU_OUTPUT_DENSITY * 0.75)
    tr = g.transpose("tr", rs, (1, 0))
    assert g.op(tr).out_density == pytest.approx(RELU_OUTPUT_DENSITY * 0.75)
    # a dense layer mixes everything back to dense outputs
    assert g.op(g.dense("fc2", d, 8)).out_density == 1.0


def test_sparse_inputs_stay_sparse_through_relu_and_mul():
    g = Graph("t")
    x = g.input("cmap", (1, 28, 28), density=0.05)
    assert g.op(x).out_density == 0.05
    r = g.relu("r", x)
    assert g.op(r).out_density == pytest.approx(0.05)  # relu never adds non-zeros
    m = g.elementwise("m", "mul", x, g.input("y", (1, 28, 28), density=0.5))
    assert g.op(m).out_density == pytest.approx(0.025)
    dr = g.dropout("d", x, p=0.5)
    assert g.op(dr).out_density == pytest.approx(0.025)
    # max pooling a sparse map: an output is zero only if its whole window is
    p = g.pool("p", x, 2)
    assert g.op(p).out_density == pytest.approx(1 - 0.95 ** 4)


def test_bad_densities_rejected():
    g = Graph("t")
    with pytest.raises(SparsityError, match="1.5"):
        g.input("x", (4,), density=1.5)
    x = g.input("ok", (4,))
    with pytest.raises(SparsityError, match="1.5"):
        g.dropout("d", x, p=1.5)


# ---- defects found in review, fixed in graph.py; these keep them fixed ----------------------
def test_matmul_transpose_of_a_vector_is_a_graph_error():
    g = Graph("t")
    a, b = g.input("a", (4, 8)), g.input("b", (8,))
    with pytest.raises(GraphError, match="mt"):
        g.matmul("mt", a, b, transpose_b=True)


def test_reshape_rejects_non_positive_dims():
    g = Graph("t")
    x = g.input("x", (4, 8))
    with pytest.raises(GraphError, match="neg"):
        g.reshape("neg", x, (-4, -8))


def test_scalar_input_gives_a_graph_error():
    g = Graph("t")
    with pytest.raises(GraphError):
        g.dense("fc", g.input("s", ()), 3)


def test_input_dtype_is_validated():
    with pytest.raises(GraphError, match="int8"):
        Graph("t").input("x", (3,), dtype="int8")


def test_from_ops_rejects_duplicate_names():
    ops = [Op("x", "input", out_shape=(4,)), Op("x", "input", out_shape=(5,))]
    with pytest.raises(GraphError, match="duplicate"):
        Graph.from_ops("dup", ops)


def test_pool_rejects_zero_stride_and_negative_padding():
    g = Graph("t")
    x = g.input("x", (1, 8, 8))
    with pytest.raises(GraphError, match="stride"):
        g.pool("p0", x, 2, stride=0)
    with pytest.raises(GraphError, match="padding"):
        g.pool("pn", x, 2, padding=-1)
