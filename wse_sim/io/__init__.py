"""Results on disk: ``result.json`` + ``arrays.npz`` written and read back."""

from .layout import Layout, layout_of
from .results import (
    ARRAY_KEYS,
    ARRAYS_FILE,
    RESULT_FILE,
    SavedRun,
    load_result,
    load_run,
    result_record,
    save_result,
)

__all__ = ["ARRAYS_FILE", "ARRAY_KEYS", "RESULT_FILE", "Layout", "SavedRun", "layout_of",
           "load_result", "load_run", "result_record", "save_result"]
