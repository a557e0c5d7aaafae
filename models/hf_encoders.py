"""Graphs of Hugging Face encoder and vision heads from their configs (used by :mod:`.hf`).

BERT-style encoders (BERT, RoBERTa, DistilBERT) share the body of :func:`models.bert.bert`:
word, position (and, where the family has them, token-type) embeddings, a layernorm, and post-LN
layers. The heads follow the modelling code of ``transformers``:

* ``...ForMaskedLM``: dense, GELU, layernorm, decoder tied to the word embedding with its own
  bias, on every position (the zoo's BERT);
* ``BertForPreTraining``: that MLM head plus the pooler (a dense and tanh on the first token)
  and the two-way next-sentence classifier;
* ``...ForSequenceClassification``: BERT: pooler, dropout, a dense to ``num_labels``;
  RoBERTa: a dense and tanh on the first token, then the dense to ``num_labels``; DistilBERT:
  ``pre_classifier`` (dense, ReLU) on the first token, then the dense to ``num_labels``;
* ``...ForQuestionAnswering``: a dense to 2 (start and end logits) on every position.

The first token is taken by a ``reshape`` op with ``attrs['source_op'] == 'split'`` (no
arithmetic), as the importers take ``x[:, 0]``. ViT: a patch-embedding convolution (kernel and
stride ``patch_size``), the learned class token prepended (a concat whose stored row counts as
parameters), learned position embeddings added (an elementwise ``scale`` op holding the table),
pre-LN layers, a final layernorm and the classifier on the class token.
"""

from __future__ import annotations

from wse_sim.graph import Graph, Op

from .bert import ATTENTION_DROPOUT, HIDDEN_DROPOUT, attention, check_sizes


def first_token(g: Graph, name: str, x: str) -> str:
    """Row 0 of a ``(seq, d)`` activation as ``(1, d)``: a data-movement op."""
    shape = g.op(x).out_shape
    return g.add(Op(name=name, kind="reshape", inputs=(x,), in_shapes=(shape,),
                    out_shape=(1, *shape[1:]), dtype=g.dtype, out_density=g.op(x).out_density,
                    attrs={"source_op": "split", "axis": 0, "start": 0}))


def encoder(g: Graph, n_layers: int, hidden: int, heads: int, ffn: int, seq_len: int,
            vocab: int, max_positions: int, type_vocab: int, names: dict) -> tuple[str, str]:
    """Embeddings and post-LN layers of a BERT-style encoder: ``(last hidden state, word
    embedding op)``. ``type_vocab`` 0 leaves the token-type embedding out (DistilBERT)."""
    tokens = g.input("tokens", (seq_len,))
    x = word = g.embedding("emb.word", tokens, vocab, hidden)
    if type_vocab:  # summed in the modelling code's order: word + token type + position
        types = g.input("token_types", (seq_len,))
        x = g.add_("emb.add_token_type", x, g.embedding("emb.token_type", types, type_vocab,
                                                         hidden))
    pos = g.embedding("emb.position", tokens, max_positions, hidden)
    g.replace_op(pos, attrs={**g.op(pos).attrs, "index": "position"})
    x = g.add_("emb.add_position", x, pos)
    x = g.dropout("emb.dropout", g.layernorm("emb.layernorm", x), HIDDEN_DROPOUT)
    for i in range(n_layers):
        p = f"layer{i}"
        a = attention(g, p, x, heads, hidden // heads, hidden, ATTENTION_DROPOUT)
        a = g.dropout(f"{p}.attn_dropout", a, HIDDEN_DROPOUT)
        x = g.layernorm(f"{p}.attn_ln", g.add_(f"{p}.attn_add", x, a))
        h = g.elementwise(f"{p}.{names['act']}", names["act"], g.dense(f"{p}.ffn1", x, ffn))
        h = g.dropout(f"{p}.ffn_dropout", g.dense(f"{p}.ffn2", h, hidden), HIDDEN_DROPOUT)
        x = g.layernorm(f"{p}.ffn_ln", g.add_(f"{p}.ffn_add", x, h))
    return x, word


def mlm_head(g: Graph, x: str, word: str, hidden: int, vocab: int) -> str:
    h = g.layernorm("mlm.layernorm", g.gelu("mlm.gelu", g.dense("mlm.dense", x, hidden)))
    return g.dense("mlm.decoder", h, vocab, tied_to=word)


def encoder_graph(family: str, head: str, n_layers: int, hidden: int, heads: int, ffn: int,
                  seq_len: int, vocab: int, max_positions: int, type_vocab: int,
                  num_labels: int, act: str, name: str) -> Graph:
    """A BERT / RoBERTa / DistilBERT encoder with ``head`` ('mlm', 'pretraining', 'classify',
    'qa') on ``seq_len`` token ids."""
    check_sizes(name, n_layers=n_layers, hidden=hidden, heads=heads, ffn=ffn, seq_len=seq_len,
                vocab=vocab, max_positions=max_positions, num_labels=num_labels)
    g = Graph(name)
    x, word = encoder(g, n_layers, hidden, heads, ffn, seq_len, vocab, max_positions,
                      type_vocab, {"act": act})
    outs = []
    if head in ("mlm", "pretraining"):
        outs.append(mlm_head(g, x, word, hidden, vocab))
    if head == "pretraining" or (head == "classify" and family == "bert"):
        pooled = g.elementwise("pooler.tanh", "tanh",
                               g.dense("pooler.dense", first_token(g, "pooler.first", x),
                                       hidden))
        if head == "pretraining":
            outs.append(g.dense("nsp", pooled, 2))
        else:
            outs.append(g.dense("classifier", g.dropout("classifier.dropout", pooled,
                                                        HIDDEN_DROPOUT), num_labels))
    elif head == "classify":
        first = first_token(g, "classifier.first", x)
        if family == "roberta":
            h = g.elementwise("classifier.tanh", "tanh", g.dense("classifier.dense", first,
                                                                 hidden))
        else:  # distilbert
            h = g.relu("classifier.relu", g.dense("classifier.pre", first, hidden))
        outs.append(g.dense("classifier", g.dropout("classifier.dropout", h, HIDDEN_DROPOUT),
                            num_labels))
    elif head == "qa":
        outs.append(g.dense("qa_outputs", x, 2))
    g.loss("loss", *outs, fn="cross_entropy")
    g.meta.update({"model": name, "seq_len": seq_len, "batch_default": 64,
                   "n_layers": n_layers, "hidden": hidden, "heads": heads, "vocab": vocab,
                   "head": head})
    return g


def vit(n_layers: int, hidden: int, heads: int, ffn: int, image: int, patch: int,
        channels: int, num_labels: int, qkv_bias: bool = True, name: str = "vit") -> Graph:
    """ViT for image classification on ``(channels, image, image)`` inputs."""
    check_sizes(name, n_layers=n_layers, hidden=hidden, heads=heads, ffn=ffn, image=image,
                patch=patch, channels=channels, num_labels=num_labels)
    g = Graph(name)
    img = g.input("image", (channels, image, image))
    p = g.conv2d("emb.patch", img, hidden, patch, stride=patch, padding=0)
    n = g.op(p).out_shape[1] * g.op(p).out_shape[2]
    x = g.transpose("emb.patch_tokens", g.reshape("emb.patch_flat", p, (hidden, n)), (1, 0))
    x = g.add(Op(name="emb.cls", kind="reshape", inputs=(x,), in_shapes=((n, hidden),),
                 out_shape=(n + 1, hidden), dtype=g.dtype, params=hidden,
                 attrs={"source_op": "concat", "axis": 0, "parts": (1, "act")}))
    x = g.elementwise("emb.position", "scale", x)
    g.replace_op(x, params=(n + 1) * hidden, attrs={**g.op(x).attrs, "source_op": "add",
                                                     "constant_shape": (1, n + 1, hidden)})
    x = g.dropout("emb.dropout", x, HIDDEN_DROPOUT)
    for i in range(n_layers):
        q = f"layer{i}"
        a = attention(g, q, g.layernorm(f"{q}.ln1", x), heads, hidden // heads, hidden,
                      ATTENTION_DROPOUT)
        x = g.add_(f"{q}.attn_add", x, g.dropout(f"{q}.attn_dropout", a, HIDDEN_DROPOUT))
        h = g.gelu(f"{q}.gelu", g.dense(f"{q}.ffn1", g.layernorm(f"{q}.ln2", x), ffn))
        h = g.dropout(f"{q}.ffn_dropout", g.dense(f"{q}.ffn2", h, hidden), HIDDEN_DROPOUT)
        x = g.add_(f"{q}.ffn_add", x, h)
    if not qkv_bias:
        for i in range(n_layers):
            for part in ("q", "k", "v"):
                op = g.op(f"layer{i}.{part}")
                g.replace_op(op.name, params=op.params - hidden,
                             attrs={**op.attrs, "bias": False})
    cls = first_token(g, "cls", g.layernorm("ln_f", x))
    g.loss("loss", g.dense("classifier", cls, num_labels), fn="cross_entropy")
    g.meta.update({"model": name, "image": image, "patch": patch, "batch_default": 64,
                   "n_layers": n_layers, "hidden": hidden, "heads": heads})
    return g
