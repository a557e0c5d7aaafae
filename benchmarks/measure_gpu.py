"""Measure BERT-Large and the CVAE in PyTorch on a real GPU, beside the roofline's prediction.

Optional and never needed by the tests. Needs PyTorch with CUDA; without them it prints why and
exits 0. The models are plain ``torch.nn`` mirrors of ``wse_sim.models`` graphs (no HF
transformers): BERT-Large with the MLM head on every position (separate q, k, v projections,
explicit softmax attention, post-LN, decoder tied to the word embedding, cross entropy), and the
DeepDriveMD CVAE (4 convs of 64 3x3 filters, strides 1 2 1 1, dense 128, latent 10, mirrored
transposed convs, BCE + KL). One step = forward + backward + Adam update, mixed precision
(``torch.autocast`` bf16 where the GPU has it, else fp16 with a GradScaler); samples/s are
timed over steady-state steps after warm-up.

    python3 benchmarks/measure_gpu.py                       # all three, train
    python3 benchmarks/measure_gpu.py --models cvae256 --steps 50 --mode infer
    python3 benchmarks/measure_gpu.py --gpu h100            # preset for the roofline column

Works from a source checkout without installing wse-sim (it maps ``kernels/`` and ``models/`` to
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
MODELS = {  # name -> (wse_sim.models name, builder kwargs, default batch)
    "bert-large": ("bert-large", {"seq_len": 128}, 64),
    "cvae28": ("cvae", {"map_size": 28}, 32),
    "cvae256": ("cvae", {"map_size": 256}, 32),
}


def import_wse_sim():
    """``wse_sim`` installed, or else loaded from this checkout with setuptools' package-dir
    mapping reproduced (``wse_sim.kernels`` -> ``kernels/``, ``wse_sim.models`` -> ``models/``)."""
    try:
        import wse_sim.gpu
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
    for key in ("h100", "a100", "v100"):
        if key in device_name.lower():
            return key
    return None


# ---- torch models (built inside functions: torch is optional) -------------------------------
def build_bert(torch, seq_len: int, vocab: int = 30522, hidden: int = 1024, layers: int = 24,
               heads: int = 16, ffn: int = 4096, p: float = 0.1):
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
            scores = q @ k.transpose(-1, -2) / math.sqrt(hidden // heads)
            probs = F.dropout(scores.softmax(-1), p, self.training)
            ctx = (probs @ v).transpose(1, 2).reshape(b, seq_len, hidden)
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
            return F.cross_entropy(logits.view(-1, vocab), labels.view(-1))  # fp32 under autocast

    def batch(b, device):
        return (torch.randint(0, vocab, (b, seq_len), device=device),
                torch.randint(0, 2, (b, seq_len), device=device),
                torch.randint(0, vocab, (b, seq_len), device=device))

    return Bert(), batch


def build_cvae(torch, map_size: int, density: float, filters: int = 64, latent: int = 10,
               dense: int = 128, p: float = 0.25):
    nn, F = torch.nn, torch.nn.functional
    side = map_size // 2  # after the stride-2 conv
    flat = filters * side * side

    def deconv(c_in, c_out, stride):  # Graph's 'same': p = ceil((k - s) / 2), h_out = h * s
        pad = (3 - stride + 1) // 2
        return nn.ConvTranspose2d(c_in, c_out, 3, stride, pad, output_padding=2 * pad - 3 + stride)

    class Cvae(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleList(nn.Conv2d(1 if i == 0 else filters, filters, 3, s, 1)
                                       for i, s in enumerate((1, 2, 1, 1)))
            self.enc = nn.Linear(flat, dense)
            self.z_mean, self.z_log_var = nn.Linear(dense, latent), nn.Linear(dense, latent)
            self.dec1, self.dec2 = nn.Linear(latent, dense), nn.Linear(dense, flat)
            self.deconvs = nn.ModuleList(deconv(filters, 1 if i == 3 else filters, s)
                                         for i, s in enumerate((1, 1, 2, 1)))

        def forward(self, x):
            h = x
            for conv in self.convs:
                h = F.relu(conv(h))
            h = F.dropout(F.relu(self.enc(h.flatten(1))), p, self.training)
            mean, log_var = self.z_mean(h), self.z_log_var(h)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            h = F.dropout(F.relu(self.dec1(z)), p, self.training)
            h = F.relu(self.dec2(h)).view(-1, filters, side, side)
            for i, dc in enumerate(self.deconvs):
                h = dc(h) if i == 3 else F.relu(dc(h))
            bce = F.binary_cross_entropy_with_logits(h.float(), x.float(), reduction="sum")
            kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp())
            return (bce + kl.float()) / x.shape[0]

    def batch(b, device):
        return ((torch.rand(b, 1, map_size, map_size, device=device) < density).float(),)

    return Cvae(), batch


# ---- timing ---------------------------------------------------------------------------------
def measure(torch, model, make_batch, batch: int, mode: str, steps: int, warmup: int,
            device: str = "cuda") -> float:
    """Steady-state samples/s of ``model`` on ``device`` ('cuda'; 'cpu' only smoke-tests)."""
    cuda = device == "cuda"
    model = model.to(device)
    bf16 = not cuda or torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float16
    scaler = torch.amp.GradScaler(device, enabled=not bf16)
    try:
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=cuda)
    except (TypeError, RuntimeError):
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    inputs = make_batch(batch, device)

    def step():
        if mode == "infer":
            with torch.no_grad(), torch.autocast(device, dtype=dtype):
                model(*inputs)
            return
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=dtype):
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--mode", choices=("train", "infer"), default="train")
    parser.add_argument("--batch", type=int, default=None, help="default: the model's")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--gpu", default=None, help="wse_sim preset for the roofline column")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="'cpu' only smoke-tests the models (tiny --batch advised)")
    args = parser.parse_args(argv)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    try:
        import torch
    except ImportError:
        print("measure_gpu: PyTorch is not installed; nothing measured (pip install torch).")
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("measure_gpu: no CUDA device visible to PyTorch; nothing measured.")
        return 0
    ws = import_wse_sim()
    from wse_sim.gpu import gpu_baseline
    from wse_sim.models import expected_contact_density, get

    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    preset = args.gpu or detect_preset(device_name)
    print(f"device: {device_name}; torch {torch.__version__}; roofline preset: "
          f"{preset or 'none (pass --gpu)'}; wse_sim {ws.__version__}")
    print(f"{'model':<12} {'batch':>5} {'measured/s':>12} {'roofline/s':>12} {'ratio':>7}")
    for name in names:
        model_name, kwargs, default_batch = MODELS[name]
        batch = args.batch or default_batch
        if model_name == "bert-large":
            model, make = build_bert(torch, kwargs["seq_len"])
        else:
            size = kwargs["map_size"]
            model, make = build_cvae(torch, size, expected_contact_density(size))
        measured = measure(torch, model, make, batch, args.mode, args.steps, args.warmup,
                           args.device)
        del model
        if args.device == "cuda":
            torch.cuda.empty_cache()
        predicted = math.nan
        if preset:
            graph = get(model_name, **kwargs)
            predicted = gpu_baseline(graph, preset, mode=args.mode, precision="mixed",
                                     batch_per_gpu=batch).samples_per_s_per_gpu
        print(f"{name:<12} {batch:>5} {measured:>12,.1f} {predicted:>12,.1f} "
              f"{measured / predicted:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
