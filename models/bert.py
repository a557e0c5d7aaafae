"""BERT encoders with the masked-language-model head (Devlin et al., 2019).

The pre-training graph without the pooler and next-sentence head: embeddings (word, position,
token type, layernorm, dropout), ``n_layers`` post-LN encoder layers and the MLM head (dense,
GELU, layernorm, decoder tied to the word embedding with its own bias), then cross entropy. The
decoder runs on every position, as the reference implementation does.

>>> g = bert_base(seq_len=128)
>>> g.total_params
109514298
>>> g.op("layer0.scores").out_shape
(12, 128, 128)
"""

from __future__ import annotations

from wse_sim.errors import GraphError
from wse_sim.graph import Graph

HIDDEN_DROPOUT = 0.1
ATTENTION_DROPOUT = 0.1


def check_sizes(model: str, **sizes) -> None:
    """Raise :class:`GraphError` naming the first size that is not a positive integer."""
    for what, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GraphError(f"{model}: {what} must be a positive integer, got {value!r}")


def attention(g: Graph, prefix: str, x: str, heads: int, d_head: int, d_out: int,
              dropout: float, causal: bool = False) -> str:
    """Multi-head self-attention on ``x`` of shape ``(seq, d)``; returns the output projection.

    Ops ``{prefix}.q/k/v`` (dense to ``heads * d_head``), ``.q_heads`` ... (reshape to
    ``(seq, heads, d_head)`` and transpose to ``(heads, seq, d_head)``), ``.scores``
    (``q k^T``: ``(heads, seq, seq)``; the ``1/sqrt(d_head)`` scale and the causal mask are folded
    into the softmax), ``.probs``, ``.probs_dropout``, ``.context`` (``probs v``), ``.merge``
    (back to ``(seq, heads * d_head)``) and ``.attn_out`` (dense to ``d_out``). A causal
    attention marks ``attrs['causal'] = True`` on the scores, probs and context ops.
    """
    seq = g.op(x).out_shape[0]
    split = {}
    for part in ("q", "k", "v"):
        proj = g.dense(f"{prefix}.{part}", x, heads * d_head)
        r = g.reshape(f"{prefix}.{part}_split", proj, (seq, heads, d_head))
        split[part] = g.transpose(f"{prefix}.{part}_heads", r, (1, 0, 2))
    scores = g.matmul(f"{prefix}.scores", split["q"], split["k"], transpose_b=True)
    probs = g.softmax(f"{prefix}.probs", scores)
    if dropout > 0:
        probs = g.dropout(f"{prefix}.probs_dropout", probs, dropout)
    context = g.matmul(f"{prefix}.context", probs, split["v"])
    if causal:
        for name in (scores, f"{prefix}.probs", context):
            g.replace_op(name, attrs={**g.op(name).attrs, "causal": True})
    merged = g.transpose(f"{prefix}.context_heads", context, (1, 0, 2))
    merged = g.reshape(f"{prefix}.merge", merged, (seq, heads * d_head))
    return g.dense(f"{prefix}.attn_out", merged, d_out)


def bert(n_layers: int, hidden: int, heads: int, ffn: int, seq_len: int = 128,
         vocab: int = 30522, max_positions: int = 512, type_vocab: int = 2,
         name: str = "bert") -> Graph:
    """A BERT encoder with the MLM head; shapes per sample, inputs ``(seq_len,)`` of ids.

    Inputs: ``tokens`` (word ids) and ``token_types`` (segment ids, 0 or 1); the position
    embedding is indexed by position, not by the ids it is fed (``attrs['index'] ==
    'position'``), and rides on the ``tokens`` input. Op names: ``emb.word``,
    ``emb.position``, ``emb.token_type``, ``emb.layernorm``; per layer ``layer{i}.q`` ...
    ``layer{i}.attn_out``, ``layer{i}.attn_add``, ``layer{i}.attn_ln``, ``layer{i}.ffn1``,
    ``layer{i}.gelu``, ``layer{i}.ffn2``, ``layer{i}.ffn_add``, ``layer{i}.ffn_ln``; then
    ``mlm.dense``, ``mlm.gelu``, ``mlm.layernorm``, ``mlm.decoder`` and ``loss``.
    """
    check_sizes(name, n_layers=n_layers, hidden=hidden, heads=heads, ffn=ffn, seq_len=seq_len,
                vocab=vocab, max_positions=max_positions, type_vocab=type_vocab)
    if hidden % heads:
        raise GraphError(f"{name}: hidden={hidden} is not a multiple of heads={heads}; "
                         "choose heads that divide hidden")
    if seq_len > max_positions:
        raise GraphError(f"{name}: seq_len={seq_len} exceeds max_positions={max_positions}; "
                         "use a shorter sequence or more positions")
    g = Graph(name)
    tokens = g.input("tokens", (seq_len,))
    types = g.input("token_types", (seq_len,))
    word = g.embedding("emb.word", tokens, vocab, hidden)
    pos = g.embedding("emb.position", tokens, max_positions, hidden)
    g.replace_op(pos, attrs={**g.op(pos).attrs, "index": "position"})
    typ = g.embedding("emb.token_type", types, type_vocab, hidden)
    x = g.add_("emb.add_position", word, pos)
    x = g.add_("emb.add_token_type", x, typ)
    x = g.layernorm("emb.layernorm", x)
    x = g.dropout("emb.dropout", x, HIDDEN_DROPOUT)
    for i in range(n_layers):
        p = f"layer{i}"
        a = attention(g, p, x, heads, hidden // heads, hidden, ATTENTION_DROPOUT)
        a = g.dropout(f"{p}.attn_dropout", a, HIDDEN_DROPOUT)
        x = g.layernorm(f"{p}.attn_ln", g.add_(f"{p}.attn_add", x, a))
        h = g.gelu(f"{p}.gelu", g.dense(f"{p}.ffn1", x, ffn))
        h = g.dropout(f"{p}.ffn_dropout", g.dense(f"{p}.ffn2", h, hidden), HIDDEN_DROPOUT)
        x = g.layernorm(f"{p}.ffn_ln", g.add_(f"{p}.ffn_add", x, h))
    h = g.layernorm("mlm.layernorm", g.gelu("mlm.gelu", g.dense("mlm.dense", x, hidden)))
    logits = g.dense("mlm.decoder", h, vocab, tied_to=word)
    g.loss("loss", logits, fn="cross_entropy")
    g.meta.update({"model": name, "seq_len": seq_len, "batch_default": 64,
                   "n_layers": n_layers, "hidden": hidden, "heads": heads, "vocab": vocab})
    return g


def bert_large(seq_len: int = 128, vocab: int = 30522) -> Graph:
    """BERT-Large: 24 layers, hidden 1024, 16 heads, FFN 4096 (335.2M parameters with MLM head)."""
    return bert(24, 1024, 16, 4096, seq_len=seq_len, vocab=vocab, name="bert-large")


def bert_base(seq_len: int = 128, vocab: int = 30522) -> Graph:
    """BERT-Base: 12 layers, hidden 768, 12 heads, FFN 3072 (109.5M parameters with MLM head)."""
    return bert(12, 768, 12, 3072, seq_len=seq_len, vocab=vocab, name="bert-base")
