"""Which mechanisms the placer and the engine model: all on by default; each can be turned
off alone to see what it costs (the ablation table of ``docs/validation.md``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import SpecError
from .fields import replaced

SCHEDULES = ("sync", "async")
ATTENTION = ("flash", "stored")
CHECKPOINT = ("auto", "none", "segments")
GRANULARITIES = ("chunk", "sample")
# the switches that take one of several names rather than True / False
CHOICES = {"schedule": SCHEDULES, "attention": ATTENTION, "checkpoint": CHECKPOINT,
           "granularity": GRANULARITIES}


@dataclass(frozen=True)
class Physics:
    """Mechanism switches (see ``docs/modeling.md``).

    schedule : training schedule. 'sync': the pipeline fills and drains around each optimizer
        step (exact gradients, a bubble per batch); 'async': no drain, weights updated while
        older samples are in flight (their staleness in steps is reported). Sync is the
        default: no public source says the vendor's layer-pipelined mode trains
        asynchronously (``docs/hardware.md``, training schedule).
    ingress : samples enter from the host through the wafer's west I/O edge, and outputs leave
        through the east edge, routed over the fabric and bounded by the off-wafer bandwidth.
    ramp : a core's ramp moves at most ``ramp_wavelets_per_cycle`` wavelets each way, and
        accumulating partial sums and stashing activations use its SRAM port.
    colors : a placement may not route more colors through a router than the spec has.
    attention : weight streaming's attention. 'flash': per head and query block, backward
        keeps one log-sum-exp per query row and recomputes the scores (one more forward of
        the scores product); 'stored': backward keeps every probability (heads x queries x
        keys per sample), which shrinks the micro-batch. The placement reports both stashes.
    checkpoint : weight streaming's activation checkpointing. 'none': backward keeps every
        stage's activations; 'segments': it keeps only the tensors crossing the boundaries of
        segments of consecutive stages and recomputes each segment's forward in backward (one
        more forward of every stage); 'auto' (default): whichever the placer predicts faster
        (a larger micro-batch streams the weights fewer times).
    fifo : each stage's input FIFO holds as many samples as the SRAM left on its fullest core
        allows (else ``WaferSpec.buffer_depth`` samples for every stage).
    granularity : the unit stages pass data in. 'chunk' (default): each op streams its output
        a token, a feature-map row or (a barrier) a whole sample at a time, so a stage starts
        a sample when the chunks it needs have arrived; fill, drain, samples in flight, stash
        and FIFO depth follow (``docs/modeling.md``, streaming units). 'sample': a stage starts
        a sample only when its producers finished all of it (the earlier model, kept for the
        ablation).
    """

    schedule: str = "sync"
    ingress: bool = True
    ramp: bool = True
    colors: bool = True
    fifo: bool = True
    attention: str = "flash"
    checkpoint: str = "auto"
    granularity: str = "chunk"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v, names = getattr(self, f.name), CHOICES.get(f.name)
            if names is not None and (not isinstance(v, str) or v not in names):
                raise SpecError(f"Physics.{f.name} must be one of {names}, got {v!r}")
            if names is None and not isinstance(v, bool):
                raise SpecError(f"Physics.{f.name} must be True or False, got {v!r}")

    def replace(self, **changes) -> Physics:
        """A copy with switches changed; unknown names raise :class:`SpecError`."""
        return replaced(self, changes, "Physics switch")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


ALL_ON = Physics()
