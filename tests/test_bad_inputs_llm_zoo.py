"""Bad input to the training-LLM zoo surfaces of issue 23 (GPT-2 ``max_positions``, GPT-J, the
shared rotary op): each raises :class:`GraphError` naming the value and the fix."""

from __future__ import annotations

import pytest

from wse_sim.errors import GraphError
from wse_sim.graph import Graph
from wse_sim.models import get, gptj, gptj_preset
from wse_sim.models.llama import rope


@pytest.mark.parametrize("name, kwargs, match", [
    ("gpt2-small", {"seq_len": 2048},
     r"seq_len=2048 exceeds max_positions=1024; pass max_positions=2048 \(a longer learned "
     r"position table: 786,432 more parameters\)"),
    ("gpt2-small", {"seq_len": 4096, "max_positions": 2048},
     r"seq_len=4096 exceeds max_positions=2048; pass max_positions=4096"),
    ("gpt2-xl", {"seq_len": 2048}, r"seq_len=2048 exceeds max_positions=1024"),
    ("gpt3-xl", {"seq_len": 4096}, r"seq_len=4096 exceeds max_positions=2048"),
    ("gptj-6b", {"seq_len": 4096},
     r"seq_len=4096 exceeds max_positions=2048; pass max_positions=4096 \(rotary positions: "
     r"no parameters change\)"),
    ("gpt2-small", {"max_positions": 0}, r"max_positions must be an integer.*got 0"),
    ("gpt2-small", {"max_positions": True}, r"max_positions must be an integer.*True"),
    ("gpt2-small", {"max_positions": "2048"}, r"max_positions must be an integer.*'2048'"),
    ("gptj-6b", {"max_positions": 2.5}, r"max_positions must be an integer.*2.5"),
    ("gptj-6b", {"rotary_dim": 32}, r"model 'gptj-6b' has no argument 'rotary_dim'"),
])
def test_zoo_arguments(name, kwargs, match):
    with pytest.raises(GraphError, match=match):
        get(name, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"rotary_dim": 3}, "rotary_dim=3 must be even"),
    ({"rotary_dim": 64}, "rotary_dim=64 must be even and at most the head width 16"),
    ({"rotary_dim": 0}, "rotary_dim must be a positive integer"),
    ({"rotary_dim": True}, "rotary_dim must be a positive integer"),
    ({"d_ff": 0, "rotary_dim": 16}, "d_ff must be a positive integer"),
    ({"vocab": -3}, "vocab must be a positive integer"),
    ({"max_positions": 4, "rotary_dim": 16}, "seq_len=8 exceeds max_positions=4"),
])
def test_gptj_builder_sizes(kwargs, match):
    with pytest.raises(GraphError, match=match):
        gptj(1, 64, 4, 8, **kwargs)


def test_gptj_heads_must_divide_d_model_and_preset_must_exist():
    with pytest.raises(GraphError, match="d_model=64 is not a multiple of n_heads=5"):
        gptj(1, 64, 5, 8)
    with pytest.raises(GraphError, match="'gptj-7b'.*gptj-6b"):
        gptj_preset("gptj-7b")


@pytest.mark.parametrize("rotary_dim, layout, match", [
    (10, "half", r"rotary_dim must be an even int in \[2, 8\].*got 10"),
    (3, "half", r"rotary_dim must be an even int in \[2, 8\].*got 3"),
    (0, "interleaved", r"rotary_dim must be an even int in \[2, 8\].*got 0"),
    (4.0, "half", r"rotary_dim must be an even int in \[2, 8\].*got 4.0"),
    (4, "sideways", r"rope layout must be one of \('half', 'interleaved'\), got 'sideways'"),
])
def test_rope_arguments(rotary_dim, layout, match):
    g = Graph("t")
    x = g.input("x", (2, 4, 8))
    with pytest.raises(GraphError, match=match):
        rope(g, "y", x, 10000.0, rotary_dim, layout)
