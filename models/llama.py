"""LLaMA-family decoders: RMSNorm, rotary embeddings, SwiGLU MLP, grouped-query attention.

Per layer (pre-norm): ``ln1 (RMSNorm) -> q, k, v -> RoPE on q and k -> causal attention ->
attn_out -> residual add -> ln2 (RMSNorm) -> gate, up -> silu(gate) * up -> down -> residual add``;
then a final RMSNorm, the LM head (tied to the token embedding or its own matrix, no bias) and
cross entropy. No position embedding table: rotary embeddings rotate q and k by position.
Shapes are per sample (one sequence of ``seq_len`` token ids), as in :mod:`.gpt`.

How the IR expresses the pieces it has no kind for:

* RMSNorm is a ``layernorm`` op with ``attrs['norm'] == 'rms'``, a gain only (``dim`` params,
  no bias) and 4 vector ops per element (square, mean, rsqrt-scale, gain) instead of 5.
* RoPE is the elementwise fn ``rope`` (``x cos + rotate_half(x) sin``: 3 ops per element); the
  cos/sin tables depend only on the position and are not parameters.
* SwiGLU is the elementwise fn ``silu`` on the gate projection and a ``mul`` with the up
  projection.
* Grouped-query attention: the ``n_heads`` query heads are regrouped (a free reshape) into
  ``n_kv_heads`` groups of ``group = n_heads // n_kv_heads`` heads, so each key/value head meets
  its ``group * seq`` query rows in one batched product ``(kv, group*seq, d_head) @ (kv, d_head,
  seq)``. The MACs equal those of multi-head attention with ``n_heads`` heads; the K and V
  projections, and the KV cache, are ``group`` times smaller. With ``group == 1`` the regrouping
  reshapes are left out and the attention has GPT's op layout.

>>> g = llama_preset("llama2-7b", seq_len=128)
>>> g.total_params
6738415616
>>> g.op("layer0.scores").out_shape
(32, 128, 128)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from wse_sim.errors import GraphError, unknown_name
from wse_sim.graph import Graph
from wse_sim.graph.op import RMSNORM_VECTOR_OPS  # one home: the graph IR's rmsnorm too

from .bert import check_sizes

DEFAULT_SEQ_LEN = 4096
"""Sequence length a zoo entry is built at when none is given (capped at the model's
``max_positions``): a common serving context and the issue's acceptance context."""


@dataclass(frozen=True)
class LlamaConfig:
    """The architecture of a LLaMA-family decoder (no weights). Sizes are counts.

    ``d_head`` 0 means ``d_model // n_heads``. ``sliding_window`` 0 means full causal attention;
    otherwise each query attends to at most that many previous positions (Mistral) and a decode
    KV cache holds at most that many positions. ``qkv_bias`` adds biases to the q, k, v
    projections (Qwen2), ``out_bias`` to the attention output, ``mlp_bias`` to gate/up/down.
    """

    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    d_ffn: int
    vocab: int
    max_positions: int
    d_head: int = 0
    tie_embeddings: bool = False
    qkv_bias: bool = False
    out_bias: bool = False
    mlp_bias: bool = False
    rope_theta: float = 10000.0
    sliding_window: int = 0
    dtype: str = "bf16"

    @property
    def head_dim(self) -> int:
        """Width of one attention head (``d_head`` or ``d_model // n_heads``)."""
        return self.d_head or self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


LLAMA_PRESETS: dict[str, tuple[LlamaConfig, str]] = {
    # Each from the checkpoint's published config.json on the Hugging Face hub (the same values
    # are written out in tests/test_llm_models.py); the description gives the parameter count
    # the architecture arithmetic yields, which the tests check against the published figure.
    "llama3-8b": (LlamaConfig(32, 4096, 32, 8, 14336, 128256, 8192, rope_theta=500000.0),
                  "Meta Llama 3 8B: 32 x 4096, GQA 32q/8kv, SwiGLU 14336, vocab 128256"),
    "llama2-7b": (LlamaConfig(32, 4096, 32, 32, 11008, 32000, 4096, dtype="fp16"),
                  "Llama 2 7B: 32 x 4096, MHA 32 heads, SwiGLU 11008, vocab 32000"),
    "llama2-13b": (LlamaConfig(40, 5120, 40, 40, 13824, 32000, 4096, dtype="fp16"),
                   "Llama 2 13B: 40 x 5120, MHA 40 heads, SwiGLU 13824, vocab 32000"),
    "llama3-70b": (LlamaConfig(80, 8192, 64, 8, 28672, 128256, 8192, rope_theta=500000.0),
                   "Meta Llama 3 70B: 80 x 8192, GQA 64q/8kv, SwiGLU 28672, vocab 128256"),
    "qwen2-72b": (LlamaConfig(80, 8192, 64, 8, 29568, 152064, 131072, qkv_bias=True,
                              rope_theta=1000000.0),
                  "Qwen2 72B: 80 x 8192, GQA 64q/8kv with qkv bias, SwiGLU 29568, vocab 152064"),
    "mistral-7b": (LlamaConfig(32, 4096, 32, 8, 14336, 32000, 32768, sliding_window=4096),
                   "Mistral 7B v0.1: 32 x 4096, GQA 32q/8kv, sliding window 4096, vocab 32000"),
}


def _rmsnorm(g: Graph, name: str, x: str) -> str:
    out = g.layernorm(name, x)
    op = g.op(out)
    g.replace_op(out, params=op.weight_shape[0], vector_ops=RMSNORM_VECTOR_OPS * op.out_elems,
                 attrs={**op.attrs, "norm": "rms"})
    return out


def _mark(g: Graph, names, **attrs) -> None:
    for name in names:
        g.replace_op(name, attrs={**g.op(name).attrs, **attrs})


ROPE_LAYOUTS = ("half", "interleaved")
"""How a rotary embedding pairs the dimensions it rotates: 'half' pairs ``i`` with ``i + r/2``
(GPT-NeoX / LLaMA "rotate_half"), 'interleaved' pairs ``2i`` with ``2i + 1`` (RoFormer's
original layout, GPT-J's ``rotate_every_two``). Same work either way; the layout matters only
to functional simulation."""


def rope(g: Graph, name: str, x: str, theta: float, rotary_dim: int | None = None,
         layout: str = "half") -> str:
    """Rotary embedding of ``x (heads, seq, d_head)`` on its first ``rotary_dim`` dimensions.

    ``rotary_dim`` defaults to the whole head. The dimensions past ``rotary_dim`` pass through
    unchanged (in place, no work), so the op costs 3 vector ops (``x cos + rotate(x) sin``) per
    rotated element only. ``attrs``: ``theta`` (the rotary base), ``rotary_dim``, ``layout``
    (one of :data:`ROPE_LAYOUTS`).
    """
    shape = g.op(x).out_shape
    d_head = shape[-1]
    rotary_dim = d_head if rotary_dim is None else rotary_dim
    if isinstance(rotary_dim, bool) or not isinstance(rotary_dim, int) \
            or not 2 <= rotary_dim <= d_head or rotary_dim % 2:
        raise GraphError(f"op {name!r}: rotary_dim must be an even int in [2, {d_head}] (the "
                         f"head width), got {rotary_dim!r}")
    if layout not in ROPE_LAYOUTS:
        raise GraphError(f"op {name!r}: rope layout must be one of {ROPE_LAYOUTS}, got "
                         f"{layout!r}")
    out = g.elementwise(name, "rope", x)
    op = g.op(out)
    g.replace_op(out, vector_ops=op.vector_ops // d_head * rotary_dim,
                 attrs={**op.attrs, "theta": theta, "rotary_dim": rotary_dim,
                        "layout": layout})
    return out


def rotary_attention(g: Graph, prefix: str, x: str, *, d_model: int, n_heads: int,
                     n_kv_heads: int, d_head: int, theta: float, qkv_bias: bool = False,
                     out_bias: bool = False, window: int = 0, rotary_dim: int | None = None,
                     layout: str = "half") -> str:
    """Causal (grouped-query) attention with rotary embeddings on ``x`` of shape ``(seq, d)``.

    Ops ``{prefix}.q/k/v`` (dense to ``n_heads * d_head`` / ``n_kv_heads * d_head``),
    ``.q_split``/``.q_heads`` (reshape, transpose to ``(heads, seq, d_head)``), ``.q_rope``,
    ``.k_rope`` (:func:`rope` on the first ``rotary_dim`` dims of each head), ``.q_groups``
    (when grouped: reshape to ``(kv, group*seq, d_head)``), ``.scores``, ``.probs`` (softmax;
    scale and causal mask folded in), ``.context``, ``.context_ungroup`` (when grouped),
    ``.context_heads``, ``.merge`` and ``.attn_out`` (dense to ``d_model``). Scores, probs and
    context carry ``attrs['causal'] = True``, ``attrs['group']`` and ``attrs['window']``
    (0 = full).
    """
    seq = g.op(x).out_shape[0]
    dh, hq, hkv = d_head, n_heads, n_kv_heads
    group = hq // hkv
    heads = {}
    for part, n in (("q", hq), ("k", hkv), ("v", hkv)):
        proj = g.dense(f"{prefix}.{part}", x, n * dh, bias=qkv_bias)
        r = g.reshape(f"{prefix}.{part}_split", proj, (seq, n, dh))
        heads[part] = g.transpose(f"{prefix}.{part}_heads", r, (1, 0, 2))
    q = rope(g, f"{prefix}.q_rope", heads["q"], theta, rotary_dim, layout)
    k = rope(g, f"{prefix}.k_rope", heads["k"], theta, rotary_dim, layout)
    if group > 1:
        q = g.reshape(f"{prefix}.q_groups", q, (hkv, group * seq, dh))
    scores = g.matmul(f"{prefix}.scores", q, k, transpose_b=True)
    probs = g.softmax(f"{prefix}.probs", scores)
    context = g.matmul(f"{prefix}.context", probs, heads["v"])
    _mark(g, (scores, probs, context), causal=True, group=group, window=window)
    if group > 1:
        context = g.reshape(f"{prefix}.context_ungroup", context, (hq, seq, dh))
    merged = g.transpose(f"{prefix}.context_heads", context, (1, 0, 2))
    merged = g.reshape(f"{prefix}.merge", merged, (seq, hq * dh))
    return g.dense(f"{prefix}.attn_out", merged, d_model, bias=out_bias)


def gqa_attention(g: Graph, prefix: str, x: str, cfg: LlamaConfig) -> str:
    """:func:`rotary_attention` with the sizes of ``cfg`` (RoPE on the whole head)."""
    return rotary_attention(g, prefix, x, d_model=cfg.d_model, n_heads=cfg.n_heads,
                            n_kv_heads=cfg.n_kv_heads, d_head=cfg.head_dim,
                            theta=cfg.rope_theta, qkv_bias=cfg.qkv_bias,
                            out_bias=cfg.out_bias, window=cfg.sliding_window)


def check_config(cfg: LlamaConfig, name: str = "llama") -> None:
    """Raise :class:`GraphError` naming the first size that is not valid for ``cfg``."""
    check_sizes(name, n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads,
                n_kv_heads=cfg.n_kv_heads, d_ffn=cfg.d_ffn, vocab=cfg.vocab,
                max_positions=cfg.max_positions)
    if cfg.d_head:
        check_sizes(name, d_head=cfg.d_head)
    elif cfg.d_model % cfg.n_heads:
        raise GraphError(f"{name}: d_model={cfg.d_model} is not a multiple of n_heads="
                         f"{cfg.n_heads}; choose n_heads that divide d_model or give d_head")
    if cfg.n_heads % cfg.n_kv_heads:
        raise GraphError(f"{name}: n_heads={cfg.n_heads} is not a multiple of n_kv_heads="
                         f"{cfg.n_kv_heads}; grouped-query attention needs whole groups")
    if cfg.head_dim % 2:
        raise GraphError(f"{name}: head width {cfg.head_dim} is odd; rotary embeddings rotate "
                         "pairs of dimensions, use an even d_head")
    if isinstance(cfg.sliding_window, bool) or not isinstance(cfg.sliding_window, int) \
            or cfg.sliding_window < 0:
        raise GraphError(f"{name}: sliding_window must be an int >= 0 (0 = full attention), "
                         f"got {cfg.sliding_window!r}")


def llama(cfg: LlamaConfig, seq_len: int | None = None, name: str = "llama") -> Graph:
    """A LLaMA-family decoder of architecture ``cfg`` on ``seq_len`` token ids (per sample).

    ``seq_len`` defaults to :data:`DEFAULT_SEQ_LEN` capped at ``cfg.max_positions``. Op names:
    ``emb.token``, per layer ``layer{i}.ln1``, the attention ops of :func:`gqa_attention`,
    ``layer{i}.attn_add``, ``layer{i}.ln2``, ``layer{i}.gate``, ``layer{i}.up``,
    ``layer{i}.silu``, ``layer{i}.swiglu``, ``layer{i}.down``, ``layer{i}.ffn_add``; then
    ``ln_f``, ``lm_head`` and ``loss``. ``meta`` holds the architecture (``meta['llama']``, the
    :class:`LlamaConfig` as a dict) and the sizes the inference model reads (``n_layers``,
    ``d_model``, ``n_heads``, ``n_kv_heads``, ``d_head``, ``d_ffn``, ``vocab``,
    ``sliding_window``).
    """
    check_config(cfg, name)
    if seq_len is None:
        seq_len = min(DEFAULT_SEQ_LEN, cfg.max_positions)
    check_sizes(name, seq_len=seq_len)
    if seq_len > cfg.max_positions:
        raise GraphError(f"{name}: seq_len={seq_len} exceeds max_positions="
                         f"{cfg.max_positions}; use a shorter sequence")
    g = Graph(name, dtype=cfg.dtype)
    tokens = g.input("tokens", (seq_len,))
    tok = g.embedding("emb.token", tokens, cfg.vocab, cfg.d_model)
    x = tok
    for i in range(cfg.n_layers):
        p = f"layer{i}"
        a = gqa_attention(g, p, _rmsnorm(g, f"{p}.ln1", x), cfg)
        x = g.add_(f"{p}.attn_add", x, a)
        h = _rmsnorm(g, f"{p}.ln2", x)
        gate = g.dense(f"{p}.gate", h, cfg.d_ffn, bias=cfg.mlp_bias)
        up = g.dense(f"{p}.up", h, cfg.d_ffn, bias=cfg.mlp_bias)
        act = g.elementwise(f"{p}.swiglu", "mul", g.elementwise(f"{p}.silu", "silu", gate), up)
        x = g.add_(f"{p}.ffn_add", x, g.dense(f"{p}.down", act, cfg.d_model,
                                               bias=cfg.mlp_bias))
    logits = g.dense("lm_head", _rmsnorm(g, "ln_f", x), cfg.vocab, bias=False,
                     tied_to=tok if cfg.tie_embeddings else None)
    g.loss("loss", logits, fn="cross_entropy")
    g.meta.update({"model": name, "family": "llama", "seq_len": seq_len, "batch_default": 1,
                   "n_layers": cfg.n_layers, "d_model": cfg.d_model, "n_heads": cfg.n_heads,
                   "n_kv_heads": cfg.n_kv_heads, "d_head": cfg.head_dim, "d_ffn": cfg.d_ffn,
                   "vocab": cfg.vocab, "sliding_window": cfg.sliding_window,
                   "llama": cfg.to_dict()})
    return g


def llama_preset(name: str, seq_len: int | None = None) -> Graph:
    """A published LLaMA-family model by name (see :data:`LLAMA_PRESETS`)."""
    key = name.replace("_", "-").lower() if isinstance(name, str) else repr(name)
    if key not in LLAMA_PRESETS:
        raise GraphError(unknown_name("LLaMA preset", name, LLAMA_PRESETS))
    return llama(LLAMA_PRESETS[key][0], seq_len=seq_len, name=key)
