"""Where the stages sit, without the placement: what a placement map needs to be redrawn."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Layout:
    """Where the stages sit: what a placement map needs, with or without a Placement.

    ``rects`` are (row0, col0, height, width) in replica 0; replica ``k`` is shifted by
    ``replica_origins[k]``.
    """

    execution: str
    rects: tuple[tuple[int, int, int, int], ...]
    heavy: tuple[str, ...]
    tile_shape: tuple[int, int]
    replica_origins: tuple[tuple[int, int], ...] = ((0, 0),)
    extra: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        return {"execution": self.execution, "rects": [list(r) for r in self.rects],
                "heavy": list(self.heavy), "tile_shape": list(self.tile_shape),
                "replica_origins": [list(o) for o in self.replica_origins]}

    @classmethod
    def from_dict(cls, d: dict) -> Layout:
        return cls(str(d["execution"]), tuple(tuple(int(v) for v in r) for r in d["rects"]),
                   tuple(str(h) for h in d["heavy"]), tuple(int(v) for v in d["tile_shape"]),
                   tuple(tuple(int(v) for v in o) for o in d["replica_origins"]))


def layout_of(placement) -> Layout:
    """The :class:`Layout` of a :class:`~wse_sim.placer.Placement`."""
    return Layout(placement.mode, tuple(tuple(int(v) for v in s.rect) for s in placement.stages),
                  tuple(s.heavy for s in placement.stages),
                  tuple(int(v) for v in placement.tile_shape),
                  tuple(tuple(int(v) for v in o) for o in placement.replica_origins))
