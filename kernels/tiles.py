"""A weight matrix split over a pr x pc region of cores, each tile compressed as a core holds it.

Layout of a region: rows of ``w`` (the input dimension, ``n_in``) are split over the ``pr`` core
rows, columns (``n_out``) over the ``pc`` core columns. When a split is not even the first tiles
take one extra row/column, exactly like ``numpy.array_split``.

Byte model of one tile of ``rows x cols`` weights with ``nnz`` non-zeros (``vb`` value bytes: 2 for
fp16, 4 for fp32; indices and pointers are 16-bit, 2 bytes)::

    dense      = rows * cols * vb                        (values only, no indices)
    compressed = nnz * (vb + 2) + (cols + 1) * 2         (values + row indices + column pointers)
    bytes      = min(dense, compressed)                  (ties go to dense: nothing to decode)

A real compiler stores a nearly dense tile densely, so ``bytes`` never exceeds the dense size.
The placer's SRAM accounting uses exactly this model (:func:`tile_bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .masks import KernelArgumentError, check_int

__all__ = ["INDEX_BYTES", "SparseTiles", "splits", "tile_bytes", "value_bytes"]

#: Bytes of one row index or one column pointer on a core (16-bit).
INDEX_BYTES = 2

_VALUE_BYTES = {"fp16": 2, "fp32": 4}
_DTYPE_ALIASES = {"fp16": "fp16", "float16": "fp16", "half": "fp16",
                  "fp32": "fp32", "float32": "fp32", "float": "fp32", "single": "fp32"}


def normalize_dtype(dtype) -> str:
    """Canonical on-core value type name, ``"fp16"`` or ``"fp32"``, for ``dtype`` or its aliases."""
    key = dtype
    if not isinstance(dtype, str):
        try:
            key = np.dtype(dtype).name  # accepts np.float16, np.dtype("float32"), ...
        except TypeError:
            key = None
    if isinstance(key, str) and key.lower() in _DTYPE_ALIASES:
        return _DTYPE_ALIASES[key.lower()]
    raise KernelArgumentError(
        f"unknown dtype {dtype!r} for on-core weight values; "
        "use 'fp16' (2 bytes) or 'fp32' (4 bytes)"
    )


def value_bytes(dtype) -> int:
    """Bytes of one stored weight value for ``dtype`` (``"fp16"`` -> 2, ``"fp32"`` -> 4)."""
    return _VALUE_BYTES[normalize_dtype(dtype)]


def splits(n: int, parts: int) -> np.ndarray:
    """Boundaries, int64 of length ``parts + 1``, of ``n`` items over ``parts`` (array_split rule).

    >>> splits(10, 3).tolist()
    [0, 4, 7, 10]
    """
    base, extra = divmod(n, parts)
    sizes = np.full(parts, base, dtype=np.int64)
    sizes[:extra] += 1
    out = np.zeros(parts + 1, dtype=np.int64)
    np.cumsum(sizes, out=out[1:])
    return out


def tile_bytes(nnz, rows, cols, vbytes: int) -> tuple[np.ndarray, np.ndarray]:
    """SRAM bytes of tiles under the module's byte model, and whether each is stored dense.

    Parameters
    ----------
    nnz : int array, shape S
        Non-zero weights of each tile.
    rows, cols : int arrays broadcastable to S
        Tile height (weight rows) and width (weight columns).
    vbytes : int
        Bytes per value (2 for fp16, 4 for fp32).

    Returns
    -------
    (bytes, dense) : int64 array S, bool array S
    """
    nnz = np.asarray(nnz, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    dense = rows * cols * vbytes
    compressed = nnz * (vbytes + INDEX_BYTES) + (cols + 1) * INDEX_BYTES
    is_dense = np.broadcast_to(dense <= compressed, nnz.shape).copy()
    return np.broadcast_to(np.minimum(dense, compressed), nnz.shape).astype(np.int64), is_dense


@njit(cache=True)
def _band_csc(mask, row_splits):
    """CSC of every row band of ``mask``, bands one after another.

    Returns ``indptr`` int64 (pr * n_out + 1): entries of band i, column c are
    ``indptr[i * n_out + c] : indptr[i * n_out + c + 1]``; ``local_rows`` int32 (nnz,) row index
    inside the band; ``flat`` int64 (nnz,) position ``k * n_out + c`` in the dense matrix.
    """
    n_out = mask.shape[1]
    pr = row_splits.shape[0] - 1
    counts = np.zeros(pr * n_out + 1, dtype=np.int64)
    for i in range(pr):
        for k in range(row_splits[i], row_splits[i + 1]):
            for c in range(n_out):
                if mask[k, c]:
                    counts[i * n_out + c + 1] += 1
    indptr = np.cumsum(counts)
    nnz = indptr[-1]
    local_rows = np.empty(nnz, dtype=np.int32)
    flat = np.empty(nnz, dtype=np.int64)
    cursor = indptr[:-1].copy()
    # k ascends inside each band, so each column's entries come out sorted by row.
    for i in range(pr):
        r0 = row_splits[i]
        for k in range(r0, row_splits[i + 1]):
            for c in range(n_out):
                if mask[k, c]:
                    p = cursor[i * n_out + c]
                    local_rows[p] = k - r0
                    flat[p] = k * n_out + c
                    cursor[i * n_out + c] = p + 1
    return indptr, local_rows, flat


@njit(cache=True)
def _tile_nnz(indptr, pr, col_splits):
    """Non-zeros of every tile, int64 (pr, pc), read off the band-CSC pointers."""
    n_out = col_splits[-1]
    pc = col_splits.shape[0] - 1
    out = np.zeros((pr, pc), dtype=np.int64)
    for i in range(pr):
        for j in range(pc):
            out[i, j] = indptr[i * n_out + col_splits[j + 1]] - indptr[i * n_out + col_splits[j]]
    return out


@njit(cache=True)
def stored_row_tile_nnz(indptr, local_rows, row_splits, col_splits):
    """Non-zeros of each weight row inside each column tile, int64 (n_in, pc), from storage."""
    n_in = row_splits[-1]
    n_out = col_splits[-1]
    pr = row_splits.shape[0] - 1
    pc = col_splits.shape[0] - 1
    out = np.zeros((n_in, pc), dtype=np.int64)
    for i in range(pr):
        r0 = row_splits[i]
        for j in range(pc):
            for c in range(col_splits[j], col_splits[j + 1]):
                for p in range(indptr[i * n_out + c], indptr[i * n_out + c + 1]):
                    out[r0 + local_rows[p], j] += 1
    return out


def check_grid(pr, pc) -> tuple[int, int]:
    """Validate a pr x pc core grid (both >= 1)."""
    return check_int("pr", pr, 1), check_int("pc", pc, 1)


def as_real_array(name: str, a, ndim: int) -> np.ndarray:
    """``a`` as a numpy array of real numbers with ``ndim`` axes, or raise naming ``name``."""
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise KernelArgumentError(
            f"{name} must hold real numbers (bool, int or float), got dtype {a.dtype}; "
            f"convert with np.asarray({name}, dtype=np.float32)"
        )
    if a.ndim != ndim:
        raise KernelArgumentError(
            f"{name} must have {ndim} axes, got shape {a.shape}; reshape it to {ndim}-D"
        )
    return a


@dataclass(frozen=True, eq=False, repr=False)
class SparseTiles:
    """A weight ``w`` (n_in, n_out) split over pr x pc cores, each tile compressed (CSC).

    All tiles live in flat arrays ("band CSC"): row band ``i`` (core row i) is stored as CSC over
    all ``n_out`` columns, bands one after another, so tile (i, j) is the contiguous range of
    columns ``col_splits[j]:col_splits[j + 1]`` of band i. Within a column, entries are sorted by
    row. Every tile is held compressed here, whatever its on-core format; ``dense_tiles`` says which
    tiles a core would store densely (see the module's byte model), and ``bytes_per_core`` is the
    smaller of the two formats.

    Attributes
    ----------
    shape : (n_in, n_out)
    dtype : "fp16" or "fp32", the on-core value type used for ``bytes_per_core``
    row_splits : int64 (pr + 1,)   weight-row boundaries of the core rows
    col_splits : int64 (pc + 1,)   weight-column boundaries of the core columns
    indptr : int64 (pr * n_out + 1,)   band-CSC pointers (see above)
    indices : int32 (nnz_total,)   row index of each non-zero inside its tile
    values : float (nnz_total,)    non-zero values at ``w``'s own precision (at least float16), so
        :meth:`to_dense` is exact; ``dtype`` only sets the byte accounting
    nnz : int64 (pr, pc)           non-zeros per tile
    bytes_per_core : int64 (pr, pc)   SRAM bytes of each tile's weights
    dense_tiles : bool (pr, pc)    True where the tile is stored dense (values only)
    """

    shape: tuple[int, int]
    dtype: str
    row_splits: np.ndarray
    col_splits: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    nnz: np.ndarray
    bytes_per_core: np.ndarray
    dense_tiles: np.ndarray

    def __repr__(self) -> str:
        return (f"SparseTiles(shape={self.shape}, grid=({self.pr}, {self.pc}), "
                f"dtype={self.dtype!r}, nnz={int(self.nnz.sum())}, "
                f"max_bytes_per_core={int(self.bytes_per_core.max(initial=0))})")

    @property
    def pr(self) -> int:
        """Core rows of the region."""
        return self.row_splits.shape[0] - 1

    @property
    def pc(self) -> int:
        """Core columns of the region."""
        return self.col_splits.shape[0] - 1

    @classmethod
    def from_dense(cls, w, pr: int, pc: int, dtype: str = "fp16") -> SparseTiles:
        """Split ``w`` (n_in, n_out) over pr x pc cores and compress every tile.

        Parameters
        ----------
        w : array (n_in, n_out) of real numbers; zeros are not stored
        pr, pc : int >= 1, core rows (split n_in) and core columns (split n_out); more cores than
            rows/columns leaves empty tiles, as ``numpy.array_split`` does
        dtype : "fp16" or "fp32", value type on the core (2 or 4 bytes) for ``bytes_per_core``

        Examples
        --------
        An empty off-diagonal tile still holds its 3 column pointers (6 bytes):

        >>> t = SparseTiles.from_dense(np.eye(4, dtype=np.float32), 2, 2, dtype="fp32")
        >>> t.nnz.tolist(), t.bytes_per_core.tolist()
        ([[2, 0], [0, 2]], [[16, 6], [6, 16]])
        """
        w = as_real_array("w", w, 2)
        pr, pc = check_grid(pr, pc)
        dtype = normalize_dtype(dtype)
        n_in, n_out = w.shape
        row_splits = splits(n_in, pr)
        col_splits = splits(n_out, pc)
        w = np.ascontiguousarray(w)
        indptr, local_rows, flat = _band_csc(w != 0, row_splits)
        values = w.reshape(-1)[flat].astype(np.promote_types(w.dtype, np.float16))
        nnz = _tile_nnz(indptr, pr, col_splits)
        rows = np.diff(row_splits)[:, None]
        cols = np.diff(col_splits)[None, :]
        nbytes, dense = tile_bytes(nnz, rows, cols, _VALUE_BYTES[dtype])
        arrays = (row_splits, col_splits, indptr, local_rows, values, nnz, nbytes, dense)
        for a in arrays:
            a.setflags(write=False)  # frozen means frozen: no one edits a tile behind our back
        return cls((n_in, n_out), dtype, *arrays)

    def to_dense(self) -> np.ndarray:
        """Rebuild ``w`` exactly, shape (n_in, n_out), dtype of :attr:`values`."""
        n_in, n_out = self.shape
        out = np.zeros((n_in, n_out), dtype=self.values.dtype)
        per_col = np.diff(self.indptr)
        band_col = np.repeat(np.arange(self.pr * n_out, dtype=np.int64), per_col)
        rows = self.row_splits[band_col // n_out] + self.indices
        out[rows, band_col % n_out] = self.values
        return out

    def row_tile_nnz(self) -> np.ndarray:
        """Non-zeros of each weight row inside each column tile, int64 (n_in, pc)."""
        return stored_row_tile_nnz(self.indptr, self.indices, self.row_splits, self.col_splits)
