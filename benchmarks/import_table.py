"""The import table of docs/importing.md: real ``transformers`` architectures, built from small
configs with random weights (nothing downloaded), through each door.

    HF_HUB_OFFLINE=1 python benchmarks/import_table.py [--no-onnx]

Doors: ``torch`` (from_torch of the model in training mode), ``onnx (TorchScript)``
(torch.onnx.export with dynamo=False, opset 17, training mode, no constant folding, then
from_onnx), ``onnx (dynamo)`` (dynamo=True, opset 18, optimize=False), ``config``
(from_hf_config). Parameters
are drawn at random (N(0, 0.02)) so that no two tensors are equal: exporters merge equal
constant tensors, which would make tied weights of tensors that are not. Per door: parameters of the
graph against torch's own count, forward MACs per sample, samples/s on WSE-2 at batch 8, or the
first line of the error.
"""

import contextlib
import io
import logging
import os
import sys
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]  # transformers' `kernels`

import torch  # noqa: E402
import transformers as T  # noqa: E402

import wse_sim as ws  # noqa: E402
from wse_sim.importers import from_onnx, from_torch  # noqa: E402
from wse_sim.models import from_hf_config  # noqa: E402

SEQ, IMG, BATCH = 32, 64, 8
ENC = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
           vocab_size=512, max_position_embeddings=64)
DEC = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2, vocab_size=512, max_position_embeddings=64)
VIS = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
           image_size=IMG, patch_size=16, num_labels=10)

ARCHS = [
    ("BERT", "BertForMaskedLM", T.BertConfig(**ENC), "ids"),
    ("BERT pre-training", "BertForPreTraining", T.BertConfig(**ENC), "ids"),
    ("RoBERTa", "RobertaForMaskedLM", T.RobertaConfig(**ENC), "ids"),
    ("DistilBERT", "DistilBertForMaskedLM",
     T.DistilBertConfig(dim=64, n_layers=2, n_heads=4, hidden_dim=128, vocab_size=512,
                        max_position_embeddings=64), "ids"),
    ("ALBERT", "AlbertForMaskedLM", T.AlbertConfig(**ENC, embedding_size=32), "ids"),
    ("GPT-2", "GPT2LMHeadModel",
     T.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=512, n_positions=64), "ids"),
    ("GPT-J", "GPTJForCausalLM",
     T.GPTJConfig(n_embd=64, n_layer=2, n_head=4, vocab_size=512, n_positions=64,
                  rotary_dim=8), "ids"),
    ("LLaMA", "LlamaForCausalLM", T.LlamaConfig(**DEC), "ids"),
    ("Mistral", "MistralForCausalLM", T.MistralConfig(**DEC), "ids"),
    ("Qwen2", "Qwen2ForCausalLM", T.Qwen2Config(**DEC), "ids"),
    ("T5 encoder", "T5EncoderModel",
     T.T5Config(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4, vocab_size=512),
     "ids"),
    ("ViT", "ViTForImageClassification", T.ViTConfig(**VIS), "img"),
    ("DeiT", "DeiTForImageClassification", T.DeiTConfig(**VIS), "img"),
    ("ConvNeXt", "ConvNextForImageClassification",
     T.ConvNextConfig(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], num_labels=10),
     "img"),
    ("Swin", "SwinForImageClassification",
     T.SwinConfig(image_size=IMG, embed_dim=16, depths=[1, 1], num_heads=[2, 4], window_size=4,
                  num_labels=10), "img"),
    ("ResNet-50", "ResNetForImageClassification", T.ResNetConfig(num_labels=10), "img"),
    ("MobileNetV2", "MobileNetV2ForImageClassification",
     T.MobileNetV2Config(image_size=IMG, depth_multiplier=0.35, num_labels=10), "img"),
    ("EfficientNet", "EfficientNetForImageClassification",
     T.EfficientNetConfig(image_size=IMG, width_coefficient=0.25, depth_coefficient=0.25,
                          hidden_dim=320, num_labels=10), "img"),  # 1280 x width
]


def _err(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = lines[0] if lines else type(e).__name__
    if len(lines) > 1 and "unsupported op type" in text:
        text += " " + "; ".join(ln for ln in lines[1:4] if ":" in ln)
    return f"{type(e).__name__}: {text}"[:160]


def _sim(g) -> float:
    w = ws.wafer("wse2")
    return ws.simulate(ws.place(g, w, batch=BATCH), batch=BATCH).samples_per_s


def _door(build):
    try:
        g = build()
        return g.total_params, g.forward_macs, _sim(g), None
    except Exception as e:  # the table reports every failure, whatever its type
        return None, None, None, _err(e)


class _Tensors(torch.nn.Module):
    """The model's output tensors as a tuple (an exporter cannot return a dataclass)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        out = self.m(x)
        return tuple(v for v in (out if isinstance(out, tuple) else out.values())
                     if torch.is_tensor(v))


@contextlib.contextmanager
def _quiet():
    """Standard output off at the descriptor level: the TorchScript exporter prints its whole
    graph from C++ when it fails."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _onnx(model, x, name, dynamo: bool):
    import onnx

    if dynamo:
        proto = torch.onnx.export(_Tensors(model), (x,), dynamo=True, opset_version=18,
                                  optimize=False, verbose=False).model_proto
    else:
        buf = io.BytesIO()
        try:
            with _quiet():
                torch.onnx.export(_Tensors(model), (x,), buf, dynamo=False, opset_version=17,
                                  training=torch.onnx.TrainingMode.TRAINING,
                                  do_constant_folding=False)
        except Exception as e:  # the exporter appends its whole graph to the message
            raise type(e)(str(e).split("\n")[0]) from None
        proto = onnx.load_from_string(buf.getvalue())
    return from_onnx(proto, batch=BATCH, name=name)


def main(onnx_door: bool = True) -> None:
    rows = []
    for label, arch, cfg, kind in ARCHS:
        torch.manual_seed(0)
        cfg.architectures = [arch]
        model = getattr(T, arch)(cfg).train()
        with torch.no_grad():  # distinct values: exporters merge equal constant tensors
            for p in model.parameters():
                p.normal_(0.0, 0.02)
        n = sum(p.numel() for p in model.parameters())
        x = (torch.randint(0, 512, (2, SEQ)) if kind == "ids"
             else torch.randn(2, 3, IMG, IMG))
        t0 = time.perf_counter()
        doors = {"torch": _door(lambda m=model, x=x: from_torch(m, (x,)))}
        if onnx_door:
            doors["onnx (TorchScript)"] = _door(lambda m=model, x=x, a=arch: _onnx(m, x, a, False))
            doors["onnx (dynamo)"] = _door(lambda m=model, x=x, a=arch: _onnx(m, x, a, True))
        seq = SEQ if kind == "ids" else IMG
        vit_like = arch.startswith(("ViT", "DeiT"))  # the image size is in the config
        doors["config"] = _door(lambda c=cfg, s=None if vit_like else seq: from_hf_config(
            c.to_dict(), seq_len=s, strict=False))
        rows.append((label, arch, n, doors))
        print(f"{label}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print(f"| model | class | torch params | door | params | fwd MACs/sample | "
          f"samples/s (WSE-2, batch {BATCH}) | status |")
    print("|---|---|---:|---|---:|---:|---:|---|")
    for label, arch, n, doors in rows:
        for door, (p, macs, rate, err) in doors.items():
            if err:
                print(f"| {label} | {arch} | {n:,} | {door} | | | | fails: `{err}` |")
            else:
                ok = "ok" if p == n else f"ok, params differ by {p - n:+,}"
                print(f"| {label} | {arch} | {n:,} | {door} | {p:,} | {macs:,} | "
                      f"{rate:,.0f} | {ok} |")


if __name__ == "__main__":
    main(onnx_door="--no-onnx" not in sys.argv)
