"""Decoder-only GPT language models: GPT-2 / GPT-3 (:func:`gpt`) and GPT-J (:func:`gptj`).

GPT-2 / GPT-3 layout (pre-LN, learned positions, tied LM head), per layer: ``ln1 -> causal
attention -> residual add -> ln2 -> MLP (4 d_model, GELU) -> residual add``; a final layernorm
and an LM head tied to the token embedding without bias, then cross entropy. Dense (not
banded-sparse) attention on every layer.

GPT-J layout (Wang & Komatsuzaki, 2021): no position table; rotary embeddings on the first
``rotary_dim`` dimensions of each query and key head; a *parallel* block, where one layernorm
feeds both the attention and the MLP and the block adds both to the residual
(``x + attn(ln(x)) + mlp(ln(x))``); q/k/v/out projections without bias, MLP with bias; an
untied LM head with bias.

>>> gpt_preset("gpt2-small").total_params
124439808
>>> gpt_preset("gpt2-small", seq_len=2048, max_positions=2048).total_params
125226240
>>> gptj_preset("gptj-6b", seq_len=128).total_params
6050882784
"""

from __future__ import annotations

from wse_sim.errors import GraphError, unknown_name
from wse_sim.graph import Graph

from .bert import attention, check_sizes
from .llama import rotary_attention

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
                         f"pass max_positions={seq_len} (a longer learned position table: "
                         f"{(seq_len - max_positions) * d_model:,} more parameters) or use "
                         "a shorter sequence")
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


def gpt_preset(name: str, seq_len: int | None = None,
               max_positions: int | None = None) -> Graph:
    """A published GPT configuration by name ('gpt2-small', 'gpt2-xl', 'gpt3-xl').

    ``seq_len`` defaults to the model's context length (1024 for GPT-2, 2048 for GPT-3).
    ``max_positions`` (default: that context) sizes the learned position table; a longer one
    (e.g. ``seq_len=2048, max_positions=2048`` for GPT-2, as long-sequence training runs of
    GPT-2-sized models use) adds ``(max_positions - context) * d_model`` parameters.
    """
    key = name.replace("_", "-").lower() if isinstance(name, str) else repr(name)
    if key not in GPT_PRESETS:
        raise GraphError(unknown_name("GPT preset", name, GPT_PRESETS))
    n_layers, d_model, n_heads, d_head, ctx, vocab = GPT_PRESETS[key]
    return gpt(n_layers, d_model, n_heads, ctx if seq_len is None else seq_len, vocab=vocab,
               max_positions=ctx if max_positions is None else max_positions, d_head=d_head,
               name=key)


GPTJ_PRESETS = {
    # name: (n_layers, d_model, n_heads, rotary_dim, d_ff, context, vocab)
    # GPT-J 6B (Wang & Komatsuzaki, "GPT-J-6B: A 6 Billion Parameter Autoregressive Language
    # Model", 2021, github.com/kingoflolz/mesh-transformer-jax; the checkpoint's config.json,
    # huggingface.co/EleutherAI/gpt-j-6b: n_layer 28, n_embd 4096, n_head 16, rotary_dim 64,
    # n_inner null = 4 n_embd, n_positions 2048, vocab_size 50400, tie_word_embeddings false,
    # all dropouts 0). The vocabulary is the GPT-2 BPE's 50,257 padded to 50,400.
    "gptj-6b": (28, 4096, 16, 64, 16384, 2048, 50400),
}


def gptj(n_layers: int, d_model: int, n_heads: int, seq_len: int, rotary_dim: int = 64,
         d_ff: int | None = None, vocab: int = 50400, max_positions: int = 2048,
         rope_theta: float = 10000.0, name: str = "gptj") -> Graph:
    """A GPT-J decoder of ``n_layers`` parallel blocks on ``seq_len`` token ids (per sample).

    ``d_ff`` defaults to ``4 * d_model``; heads are ``d_model // n_heads`` wide and rotary
    embeddings (interleaved pairs, base ``rope_theta``) turn their first ``rotary_dim``
    dimensions. ``max_positions`` is the longest sequence the model is built for; rotary
    embeddings have no table, so it changes no parameter. Op names: ``emb.token``, per layer
    ``layer{i}.ln1`` (the block's one layernorm), the attention ops of
    :func:`~models.llama.rotary_attention` (``layer{i}.q`` ... ``layer{i}.attn_out``), the MLP
    ``layer{i}.ffn1``, ``layer{i}.gelu``, ``layer{i}.ffn2`` (both fed by ``ln1``), then
    ``layer{i}.attn_add`` (residual + attention) and ``layer{i}.ffn_add`` (+ MLP); then
    ``ln_f``, ``lm_head`` (untied, with bias) and ``loss``.
    """
    check_sizes(name, n_layers=n_layers, d_model=d_model, n_heads=n_heads, seq_len=seq_len,
                vocab=vocab, max_positions=max_positions)
    if d_model % n_heads:
        raise GraphError(f"{name}: d_model={d_model} is not a multiple of n_heads={n_heads}; "
                         "choose n_heads that divide d_model")
    d_ff = 4 * d_model if d_ff is None else d_ff
    check_sizes(name, d_ff=d_ff, rotary_dim=rotary_dim)
    d_head = d_model // n_heads
    if rotary_dim > d_head or rotary_dim % 2:
        raise GraphError(f"{name}: rotary_dim={rotary_dim} must be even and at most the head "
                         f"width {d_head} (d_model / n_heads)")
    if seq_len > max_positions:
        raise GraphError(f"{name}: seq_len={seq_len} exceeds max_positions={max_positions}; "
                         f"pass max_positions={seq_len} (rotary positions: no parameters "
                         "change) or use a shorter sequence")
    g = Graph(name)
    tokens = g.input("tokens", (seq_len,))
    x = g.embedding("emb.token", tokens, vocab, d_model)
    for i in range(n_layers):
        p = f"layer{i}"
        h = g.layernorm(f"{p}.ln1", x)
        a = rotary_attention(g, p, h, d_model=d_model, n_heads=n_heads, n_kv_heads=n_heads,
                             d_head=d_head, theta=rope_theta, rotary_dim=rotary_dim,
                             layout="interleaved")
        m = g.dense(f"{p}.ffn2", g.gelu(f"{p}.gelu", g.dense(f"{p}.ffn1", h, d_ff)), d_model)
        x = g.add_(f"{p}.ffn_add", g.add_(f"{p}.attn_add", x, a), m)
    logits = g.dense("lm_head", g.layernorm("ln_f", x), vocab, bias=True)
    g.loss("loss", logits, fn="cross_entropy")
    g.meta.update({"model": name, "family": "gptj", "seq_len": seq_len, "batch_default": 8,
                   "n_layers": n_layers, "d_model": d_model, "n_heads": n_heads,
                   "n_kv_heads": n_heads, "d_head": d_head, "d_ffn": d_ff, "vocab": vocab,
                   "rotary_dim": rotary_dim, "parallel_block": True, "sliding_window": 0,
                   "max_positions": max_positions})
    return g


def gptj_preset(name: str, seq_len: int | None = None,
                max_positions: int | None = None) -> Graph:
    """A published GPT-J configuration by name ('gptj-6b'; see :data:`GPTJ_PRESETS`).

    ``seq_len`` defaults to the model's context (2048); ``max_positions`` (default: that
    context) may be raised to build longer sequences (no parameters change).
    """
    key = name.replace("_", "-").lower() if isinstance(name, str) else name
    if key not in GPTJ_PRESETS:
        raise GraphError(unknown_name("GPT-J preset", name, GPTJ_PRESETS))
    n_layers, d_model, n_heads, rotary_dim, d_ff, ctx, vocab = GPTJ_PRESETS[key]
    return gptj(n_layers, d_model, n_heads, ctx if seq_len is None else seq_len,
                rotary_dim=rotary_dim, d_ff=d_ff, vocab=vocab,
                max_positions=ctx if max_positions is None else max_positions, name=key)
