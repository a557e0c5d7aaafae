"""Decoder-only GPT language models (GPT-2 / GPT-3 layout: pre-LN, tied LM head).

Per layer: ``ln1 -> causal attention -> residual add -> ln2 -> MLP (4 d_model, GELU) -> residual
add``; a final layernorm and an LM head tied to the token embedding without bias, then cross
entropy. Dense (not banded-sparse) attention on every layer.

>>> gpt_preset("gpt2-small").total_params
124439808
"""

from __future__ import annotations

from wse_sim.errors import GraphError, unknown_name
from wse_sim.graph import Graph

from .bert import attention, check_sizes

DROPOUT = 0.1

GPT_PRESETS = {
    # name: (n_layers, d_model, n_heads, d_head, context, vocab)
    # GPT-2 (Radford et al., 2019; released checkpoints' configs)
    "gpt2-small": (12, 768, 12, 64, 1024, 50257),
    "gpt2-xl": (48, 1600, 25, 64, 1024, 50257),
    # GPT-3 XL (Brown et al., 2020, Table 2.1: 24 layers, d_model 2048, d_head 128, ctx 2048,
    # 1.3B params). The table also lists 24 heads, but 24 x 128 != 2048 and would give 1.5B
    # params; 16 heads of 128 reproduces the 1.3B and is what open replications use (GPT-Neo
    # 1.3B, Cerebras-GPT 1.3B). Build gpt(24, 2048, 24, 2048, d_head=128) for the literal reading.
    "gpt3-xl": (24, 2048, 16, 128, 2048, 50257),
}


def gpt(n_layers: int, d_model: int, n_heads: int, seq_len: int, vocab: int = 50257,
        max_positions: int = 1024, d_head: int | None = None, name: str = "gpt") -> Graph:
    """A GPT decoder of ``n_layers`` pre-LN blocks on ``seq_len`` token ids (shapes per sample).

    ``d_head`` defaults to ``d_model // n_heads``. Op names: ``emb.token``, ``emb.position``
    (indexed by position, ``attrs['index'] == 'position'``), per layer ``layer{i}.ln1``,
    ``layer{i}.q`` ... ``layer{i}.attn_out`` (scores/probs/context carry ``attrs['causal']``),
    ``layer{i}.attn_add``, ``layer{i}.ln2``, ``layer{i}.ffn1``, ``layer{i}.gelu``,
    ``layer{i}.ffn2``, ``layer{i}.ffn_add``; then ``ln_f``, ``lm_head`` and ``loss``.
    """
    if d_head is None:
        check_sizes(name, d_model=d_model, n_heads=n_heads)
        if d_model % n_heads:
            raise GraphError(f"{name}: d_model={d_model} is not a multiple of n_heads="
                             f"{n_heads}; choose n_heads that divide d_model or give d_head")
        d_head = d_model // n_heads
    check_sizes(name, n_layers=n_layers, d_model=d_model, n_heads=n_heads, seq_len=seq_len,
                vocab=vocab, max_positions=max_positions, d_head=d_head)
    if seq_len > max_positions:
        raise GraphError(f"{name}: seq_len={seq_len} exceeds max_positions={max_positions}; "
                         "use a shorter sequence or more positions")
    g = Graph(name)
    tokens = g.input("tokens", (seq_len,))
    tok = g.embedding("emb.token", tokens, vocab, d_model)
    pos = g.embedding("emb.position", tokens, max_positions, d_model)
    g.replace_op(pos, attrs={**g.op(pos).attrs, "index": "position"})
    x = g.dropout("emb.dropout", g.add_("emb.add_position", tok, pos), DROPOUT)
    for i in range(n_layers):
        p = f"layer{i}"
        a = attention(g, p, g.layernorm(f"{p}.ln1", x), n_heads, d_head, d_model, DROPOUT,
                      causal=True)
        x = g.add_(f"{p}.attn_add", x, g.dropout(f"{p}.attn_dropout", a, DROPOUT))
        h = g.gelu(f"{p}.gelu", g.dense(f"{p}.ffn1", g.layernorm(f"{p}.ln2", x), 4 * d_model))
        h = g.dropout(f"{p}.ffn_dropout", g.dense(f"{p}.ffn2", h, d_model), DROPOUT)
        x = g.add_(f"{p}.ffn_add", x, h)
    logits = g.dense("lm_head", g.layernorm("ln_f", x), vocab, bias=False, tied_to=tok)
    g.loss("loss", logits, fn="cross_entropy")
    g.meta.update({"model": name, "seq_len": seq_len, "batch_default": 8,
                   "n_layers": n_layers, "d_model": d_model, "n_heads": n_heads,
                   "d_head": d_head, "vocab": vocab})
    return g


def gpt_preset(name: str, seq_len: int | None = None) -> Graph:
    """A published GPT configuration by name ('gpt2-small', 'gpt2-xl', 'gpt3-xl').

    ``seq_len`` defaults to the model's context length (1024 for GPT-2, 2048 for GPT-3).
    """
    key = name.replace("_", "-").lower() if isinstance(name, str) else repr(name)
    if key not in GPT_PRESETS:
        raise GraphError(unknown_name("GPT preset", name, GPT_PRESETS))
    n_layers, d_model, n_heads, d_head, ctx, vocab = GPT_PRESETS[key]
    return gpt(n_layers, d_model, n_heads, ctx if seq_len is None else seq_len, vocab=vocab,
               max_positions=ctx, d_head=d_head, name=key)
