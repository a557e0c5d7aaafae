"""Measure the model zoo in PyTorch on a real GPU, beside the GPU baseline's prediction.

Optional and never needed by the tests. Needs PyTorch (CUDA for real figures); without it, it
prints why and exits 0. The models are plain ``torch.nn`` mirrors of ``wse_sim.models`` graphs
(no HF transformers, no torchvision), and each one's parameter count is checked against its
graph before it runs:

* BERT-Large with the MLM head on every position (separate q, k, v projections, explicit
  softmax attention or ``--attention fused`` = ``scaled_dot_product_attention``, post-LN,
  decoder tied to the word embedding, cross entropy), sequence 128 and 512;
* GPT-2 small (pre-LN, causal attention, LM head tied to the token embedding);
* ResNet-50 v1.5 (torchvision's layout: stride on the 3x3 conv, batchnorm, no conv bias);
* the DeepDriveMD CVAE (4 convs of 64 3x3 filters, strides 1 2 1 1, dense 128, latent 10,
  mirrored transposed convs, BCE + KL), and ``cvae-cs2`` (the configuration of its CS-2
  port: 256 x 256 maps, filters 64 64 64 32, strides 1 2 2 1, latent 3, no dropout).

One step = forward + backward + Adam update; 'mixed' runs under ``torch.autocast`` (bf16 where
the GPU has it, else fp16 with a GradScaler); 'fp32' runs in fp32 with TF32 matmuls and
convolutions allowed (what the GPU baseline assumes on A100 and later; the V100 has no TF32).
Samples/s are timed over steady-state steps after warm-up.

    python3 benchmarks/measure_gpu.py                          # every case, train
    python3 benchmarks/measure_gpu.py --cases bert128-mixed,resnet50-mixed --steps 50
    python3 benchmarks/measure_gpu.py --gpu h100                # preset for the model column
    python3 benchmarks/measure_gpu.py --smoke                   # CPU, batch 1, one step

``--smoke`` checks that every mirror builds, matches its graph's parameter count and trains
for one step on the CPU (a few minutes on two cores); its samples/s are CPU figures, not
comparable with the GPU prediction (the ratio column then shows '-'). Works from a source
checkout without installing wse-sim (it maps ``kernels/`` and ``models/`` to
``wse_sim.kernels`` / ``wse_sim.models`` itself when the package is not installed).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {  # name -> (wse_sim.models name, builder kwargs, precision, default batch)
    "bert128-mixed": ("bert-large", {"seq_len": 128}, "mixed", 64),
    "bert128-fp32": ("bert-large", {"seq_len": 128}, "fp32", 32),
    "bert512-mixed": ("bert-large", {"seq_len": 512}, "mixed", 16),
    "bert512-fp32": ("bert-large", {"seq_len": 512}, "fp32", 8),
    "gpt2-small-mixed": ("gpt2-small", {}, "mixed", 8),
    "resnet50-mixed": ("resnet50", {}, "mixed", 128),
    "resnet50-fp32": ("resnet50", {}, "fp32", 64),
    "cvae28-mixed": ("cvae", {"map_size": 28}, "mixed", 256),
    "cvae256-mixed": ("cvae", {"map_size": 256}, "mixed", 32),
    "cvae-cs2": ("cvae-cs2", {}, "mixed", 64),  # the CS-2 port's configuration, batch 64
}


def import_wse_sim():
    """``wse_sim`` installed, or else loaded from this checkout with setuptools' package-dir
    mapping reproduced (``wse_sim.kernels`` -> ``kernels/``, ``wse_sim.models`` -> ``models/``)."""
    try:
        import wse_sim.baselines
        import wse_sim.models  # noqa: F401
        return sys.modules["wse_sim"]
    except ImportError:
        for name in [m for m in sys.modules if m == "wse_sim" or m.startswith("wse_sim.")]:
            del sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        "wse_sim", ROOT / "wse_sim" / "__init__.py",
        submodule_search_locations=[str(ROOT / "wse_sim"), str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["wse_sim"] = module
    spec.loader.exec_module(module)
    return module


def detect_preset(device_name: str) -> str | None:
    """The wse_sim GPU preset for a CUDA device name, or None."""
    for key in ("b200", "h200", "h100", "a100", "v100"):
        if key in device_name.lower():
            return key
    return None


# ---- torch models (built inside functions: torch is optional) -------------------------------
def attend(torch, q, k, v, p: float, training: bool, fused: bool, causal: bool):
    """Softmax attention of ``(b, heads, seq, d)`` tensors: explicit (the graph's ops) or
    PyTorch's fused ``scaled_dot_product_attention`` (flash / memory-efficient kernels)."""
    F = torch.nn.functional
    if fused:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p if training else 0.0,
                                              is_causal=causal)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        n = q.shape[-2]
        mask = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(mask, float("-inf"))
    return F.dropout(scores.softmax(-1), p, training) @ v


def build_bert(torch, seq_len: int, fused: bool = False, vocab: int = 30522,
               hidden: int = 1024, layers: int = 24, heads: int = 16, ffn: int = 4096,
               p: float = 0.1):
    nn, F = torch.nn, torch.nn.functional

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v = (nn.Linear(hidden, hidden) for _ in range(3))
            self.attn_out = nn.Linear(hidden, hidden)
            self.attn_ln, self.ffn_ln = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
            self.ffn1, self.ffn2 = nn.Linear(hidden, ffn), nn.Linear(ffn, hidden)

        def split(self, t, b):
            return t.view(b, seq_len, heads, hidden // heads).transpose(1, 2)

        def forward(self, x):
            b = x.shape[0]
            q, k, v = (self.split(f(x), b) for f in (self.q, self.k, self.v))
            ctx = attend(torch, q, k, v, p, self.training, fused, causal=False)
            ctx = ctx.transpose(1, 2).reshape(b, seq_len, hidden)
            x = self.attn_ln(x + F.dropout(self.attn_out(ctx), p, self.training))
            h = F.dropout(self.ffn2(F.gelu(self.ffn1(x))), p, self.training)
            return self.ffn_ln(x + h)

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = nn.Embedding(vocab, hidden)
            self.position = nn.Embedding(512, hidden)
            self.token_type = nn.Embedding(2, hidden)
            self.emb_ln = nn.LayerNorm(hidden)
            self.layers = nn.ModuleList(Layer() for _ in range(layers))
            self.mlm_dense, self.mlm_ln = nn.Linear(hidden, hidden), nn.LayerNorm(hidden)
            self.decoder_bias = nn.Parameter(torch.zeros(vocab))

        def forward(self, tokens, types, labels):
            pos = torch.arange(seq_len, device=tokens.device)
            x = self.word(tokens) + self.position(pos) + self.token_type(types)
            x = F.dropout(self.emb_ln(x), p, self.training)
            for layer in self.layers:
                x = layer(x)
            h = self.mlm_ln(F.gelu(self.mlm_dense(x)))
            logits = F.linear(h, self.word.weight, self.decoder_bias)  # tied decoder
            return F.cross_entropy(logits.view(-1, vocab).float(), labels.view(-1))

    def batch(b, device):
        return (torch.randint(0, vocab, (b, seq_len), device=device),
                torch.randint(0, 2, (b, seq_len), device=device),
                torch.randint(0, vocab, (b, seq_len), device=device))

    return Bert(), batch


def build_gpt(torch, fused: bool = False, layers: int = 12, d: int = 768, heads: int = 12,
              ctx: int = 1024, vocab: int = 50257, p: float = 0.1):
    """GPT-2 small as ``wse_sim.models.get('gpt2-small')``: pre-LN, tied LM head, no bias."""
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.q, self.k, self.v = (nn.Linear(d, d) for _ in range(3))
            self.attn_out = nn.Linear(d, d)
            self.ffn1, self.ffn2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):
            b = x.shape[0]
            h = self.ln1(x)
            q, k, v = (f(h).view(b, ctx, heads, d // heads).transpose(1, 2)
                       for f in (self.q, self.k, self.v))
            a = attend(torch, q, k, v, p, self.training, fused, causal=True)
            a = self.attn_out(a.transpose(1, 2).reshape(b, ctx, d))
            x = x + F.dropout(a, p, self.training)
            h = self.ffn2(F.gelu(self.ffn1(self.ln2(x))))
            return x + F.dropout(h, p, self.training)

    class Gpt(nn.Module):
        def __init__(self):
            super().__init__()
            self.token, self.position = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.ln_f = nn.LayerNorm(d)

        def forward(self, tokens, labels):
            pos = torch.arange(ctx, device=tokens.device)
            x = F.dropout(self.token(tokens) + self.position(pos), p, self.training)
            for blk in self.blocks:
                x = blk(x)
            logits = F.linear(self.ln_f(x), self.token.weight)  # tied, no bias
            return F.cross_entropy(logits.view(-1, vocab).float(), labels.view(-1))

    def batch(b, device):
        return (torch.randint(0, vocab, (b, ctx), device=device),
                torch.randint(0, vocab, (b, ctx), device=device))

    return Gpt(), batch


def build_resnet50(torch, image: int = 224, classes: int = 1000):
    """ResNet-50 v1.5 as ``wse_sim.models.get('resnet50')`` (torchvision's layout)."""
    nn, F = torch.nn, torch.nn.functional

    def conv_bn(c_in, c_out, k, stride=1):
        return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False),
                             nn.BatchNorm2d(c_out))

    class Bottleneck(nn.Module):
        def __init__(self, c_in, width, stride):
            super().__init__()
            c_out = 4 * width
            self.a, self.b = conv_bn(c_in, width, 1), conv_bn(width, width, 3, stride)
            self.c = conv_bn(width, c_out, 1)
            self.down = conv_bn(c_in, c_out, 1, stride) if stride != 1 or c_in != c_out \
                else None

        def forward(self, x):
            h = F.relu(self.b(F.relu(self.a(x))))
            return F.relu(self.c(h) + (x if self.down is None else self.down(x)))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = conv_bn(3, 64, 7, 2)
            blocks, c = [], 64
            for width, n, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                for i in range(n):
                    blocks.append(Bottleneck(c, width, stride if i == 0 else 1))
                    c = 4 * width
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(c, classes)

        def forward(self, x, labels):
            h = F.max_pool2d(F.relu(self.stem(x)), 3, 2, 1)
            h = self.blocks(h).mean((2, 3))
            return F.cross_entropy(self.fc(h).float(), labels)

    def batch(b, device):
        return (torch.randn(b, 3, image, image, device=device),
                torch.randint(0, classes, (b,), device=device))

    return ResNet(), batch


def build_cvae(torch, map_size: int, density: float, filters=64, latent: int = 10,
               dense: int = 128, p: float = 0.25, strides=(1, 2, 1, 1)):
    """The CVAE of ``wse_sim.models.cvae`` (``filters``: one int or one per encoder conv;
    the decoder mirrors the encoder: strides reversed, channels reversed, last one 1)."""
    nn, F = torch.nn, torch.nn.functional
    chans = [filters] * len(strides) if isinstance(filters, int) else list(filters)
    side = map_size // math.prod(strides)
    flat = chans[-1] * side * side
    dec_out = chans[-2::-1] + [1]  # e.g. 64, 64, 64, 1

    def deconv(c_in, c_out, stride):  # Graph's 'same': p = ceil((k - s) / 2), h_out = h * s
        pad = (3 - stride + 1) // 2
        return nn.ConvTranspose2d(c_in, c_out, 3, stride, pad, output_padding=2 * pad - 3 + stride)

    class Cvae(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleList(nn.Conv2d(1 if i == 0 else chans[i - 1], chans[i], 3,
                                                 s, 1) for i, s in enumerate(strides))
            self.enc = nn.Linear(flat, dense)
            self.z_mean, self.z_log_var = nn.Linear(dense, latent), nn.Linear(dense, latent)
            self.dec1, self.dec2 = nn.Linear(latent, dense), nn.Linear(dense, flat)
            self.deconvs = nn.ModuleList(
                deconv(chans[-1] if i == 0 else dec_out[i - 1], dec_out[i], s)
                for i, s in enumerate(strides[::-1]))

        def forward(self, x):
            h = x
            for conv in self.convs:
                h = F.relu(conv(h))
            h = F.dropout(F.relu(self.enc(h.flatten(1))), p, self.training)
            mean, log_var = self.z_mean(h), self.z_log_var(h)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            h = F.dropout(F.relu(self.dec1(z)), p, self.training)
            h = F.relu(self.dec2(h)).view(-1, chans[-1], side, side)
            for i, dc in enumerate(self.deconvs):
                h = dc(h) if i == len(strides) - 1 else F.relu(dc(h))
            bce = F.binary_cross_entropy_with_logits(h.float(), x.float(), reduction="sum")
            kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp())
            return (bce + kl.float()) / x.shape[0]

    def batch(b, device):
        return ((torch.rand(b, 1, map_size, map_size, device=device) < density).float(),)

    return Cvae(), batch


def build(torch, model_name: str, kwargs: dict, fused: bool):
    """``(torch model, batch maker)`` mirroring ``wse_sim.models.get(model_name, **kwargs)``."""
    if model_name == "bert-large":
        return build_bert(torch, kwargs["seq_len"], fused)
    if model_name == "gpt2-small":
        return build_gpt(torch, fused)
    if model_name == "resnet50":
        return build_resnet50(torch)
    from wse_sim.models import expected_contact_density
    if model_name == "cvae-cs2":  # the CS-2 configuration, read from the zoo's own graph
        zoo = importlib.import_module("wse_sim.models.cvae")  # the module, not the function
        size = zoo.CS2_MAP_SIZE
        return build_cvae(torch, size, expected_contact_density(size),
                          filters=list(zoo.CS2_FILTERS), latent=zoo.CS2_LATENT_DIM,
                          dense=zoo.CS2_DENSE_UNITS, p=0.0, strides=tuple(zoo.CS2_STRIDES))
    size = kwargs["map_size"]
    return build_cvae(torch, size, expected_contact_density(size))


# ---- timing ---------------------------------------------------------------------------------
def measure(torch, model, make_batch, batch: int, mode: str, precision: str, steps: int,
            warmup: int, device: str = "cuda") -> float:
    """Steady-state samples/s of ``model`` on ``device`` ('cuda'; 'cpu' only smoke-tests)."""
    cuda = device == "cuda"
    model = model.to(device)
    mixed = precision == "mixed"
    if cuda:  # fp32 = TF32 tensor cores where the GPU has them, as the baseline assumes
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not mixed
    bf16 = not cuda or torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float16
    scaler = torch.amp.GradScaler(device, enabled=mixed and not bf16)
    try:
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=cuda)
    except (TypeError, RuntimeError):
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    inputs = make_batch(batch, device)

    def step():
        if mode == "infer":
            with torch.no_grad(), torch.autocast(device, dtype=dtype, enabled=mixed):
                model(*inputs)
            return
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=dtype, enabled=mixed):
            loss = model(*inputs)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    def sync():
        if cuda:
            torch.cuda.synchronize()

    model.train(mode == "train")
    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return steps * batch / (time.perf_counter() - start)


def _num(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:,.1f}" if x >= 10 else f"{x:.3g}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--mode", choices=("train", "infer"), default="train")
    parser.add_argument("--batch", type=int, default=None, help="default: the case's")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--attention", choices=("unfused", "fused"), default="unfused")
    parser.add_argument("--stack", choices=("eager", "tuned"), default="eager",
                        help="the model column's stack: 'eager' (fused=False, every op its own "
                        "kernel, as this script's PyTorch runs) or 'tuned' (the fusions of "
                        "wse_sim.baselines.fusion)")
    parser.add_argument("--gpu", default=None, help="wse_sim preset for the model column")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="'cpu' only smoke-tests the models (tiny --batch advised)")
    parser.add_argument("--smoke", action="store_true",
                        help="CPU, batch 1, one step per case: checks the mirrors run")
    args = parser.parse_args(argv)
    if args.smoke:
        args.device, args.steps, args.warmup = "cpu", 1, 0
        args.batch = args.batch or 1
    names = [m.strip() for m in args.cases.split(",") if m.strip()]
    unknown = [m for m in names if m not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {', '.join(CASES)}")
    try:
        import torch
    except ImportError:
        print("measure_gpu: PyTorch is not installed; nothing measured (pip install torch).")
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("measure_gpu: no CUDA device visible to PyTorch; nothing measured "
              "(--smoke runs the models on the CPU).")
        return 0
    ws = import_wse_sim()
    from wse_sim.baselines import gpu_baseline
    from wse_sim.errors import WseSimError
    from wse_sim.models import get

    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    preset = args.gpu or detect_preset(device_name) or ("v100" if args.smoke else None)
    print(f"device: {device_name}; torch {torch.__version__}; model preset: "
          f"{preset or 'none (pass --gpu)'}; attention {args.attention}; stack {args.stack}; "
          f"wse_sim {ws.__version__}")
    print(f"{'case':<17} {'batch':>5} {'measured/s':>12} {'model/s':>12} {'ratio':>7}")
    for name in names:
        model_name, kwargs, precision, default_batch = CASES[name]
        if model_name is None:
            print(f"{name:<17} skipped: no '{name}' model in wse_sim.models yet")
            continue
        batch = args.batch or default_batch
        graph = get(model_name, **kwargs)
        model, make = build(torch, model_name, kwargs, args.attention == "fused")
        n_params = sum(t.numel() for t in model.parameters())
        if n_params != graph.total_params:
            raise SystemExit(f"measure_gpu: the torch {name} has {n_params:,} parameters, "
                             f"its graph {graph.total_params:,}; the mirror is wrong")
        measured = measure(torch, model, make, batch, args.mode, precision, args.steps,
                           args.warmup, args.device)
        del model
        if args.device == "cuda":
            torch.cuda.empty_cache()
        predicted = math.nan
        if preset:
            try:
                predicted = gpu_baseline(graph, preset, mode=args.mode, precision=precision,
                                         batch_per_gpu=batch, attention=args.attention,
                                         fused=args.stack == "tuned"
                                         ).samples_per_s_per_gpu
            except WseSimError as exc:
                print(f"{name:<17} (no prediction: {exc})")
        ratio = "-" if args.smoke or math.isnan(predicted) else f"{measured / predicted:.2f}"
        print(f"{name:<17} {batch:>5} {_num(measured):>12} {_num(predicted):>12} {ratio:>7}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
