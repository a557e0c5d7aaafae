"""ResNet-50 as in torchvision (He et al., 2016; v1.5: the stride sits on the 3x3 conv).

>>> g = resnet50()
>>> g.total_params
25557032
"""

from __future__ import annotations

from wse_sim.graph import Graph

from .bert import check_sizes

STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))
"""(bottleneck width, blocks, stride of the first block) per stage."""
EXPANSION = 4


def _conv_bn(g: Graph, name: str, x: str, channels: int, kernel: int, stride: int = 1,
             relu: bool = True, bn_name: str | None = None) -> str:
    """conv (no bias: the batchnorm's shift replaces it) + batchnorm (+ relu)."""
    pad = kernel // 2
    y = g.conv2d(f"{name}", x, channels, kernel, stride=stride, padding=pad, bias=False)
    y = g.batchnorm(bn_name or f"{name}_bn", y)
    return g.relu(f"{name}_relu", y) if relu else y


def _bottleneck(g: Graph, p: str, x: str, width: int, stride: int) -> str:
    c_in = g.op(x).out_shape[0]
    c_out = width * EXPANSION
    h = _conv_bn(g, f"{p}.conv1", x, width, 1, bn_name=f"{p}.bn1")
    h = _conv_bn(g, f"{p}.conv2", h, width, 3, stride=stride, bn_name=f"{p}.bn2")
    h = _conv_bn(g, f"{p}.conv3", h, c_out, 1, relu=False, bn_name=f"{p}.bn3")
    if stride != 1 or c_in != c_out:
        x = _conv_bn(g, f"{p}.downsample.conv", x, c_out, 1, stride=stride, relu=False,
                     bn_name=f"{p}.downsample.bn")
    return g.relu(f"{p}.relu", g.add_(f"{p}.add", h, x))


def resnet50(image: int = 224, classes: int = 1000) -> Graph:
    """ResNet-50 on ``(3, image, image)`` inputs: 25.56M parameters, 4.09 GMACs at 224.

    Op names follow torchvision: ``conv1``, ``bn1``, ``maxpool``, ``layer{s}.{b}.conv{1,2,3}``,
    ``layer{s}.{b}.bn{1,2,3}``, ``layer{s}.{b}.downsample.conv``/``.bn``, ``layer{s}.{b}.add``,
    ``avgpool``, ``fc``, ``loss``.
    """
    check_sizes("resnet50", image=image, classes=classes)
    g = Graph("resnet50")
    x = g.input("image", (3, image, image))
    x = _conv_bn(g, "conv1", x, 64, 7, stride=2, bn_name="bn1")
    x = g.pool("maxpool", x, kernel=3, stride=2, padding=1, kind="max")
    for s, (width, blocks, stride) in enumerate(STAGES, start=1):
        for b in range(blocks):
            x = _bottleneck(g, f"layer{s}.{b}", x, width, stride if b == 0 else 1)
    x = g.pool("avgpool", x, kind="global_avg")
    g.loss("loss", g.dense("fc", x, classes), fn="cross_entropy")
    g.meta.update({"model": "resnet50", "image": image, "classes": classes,
                   "batch_default": 256})
    return g
