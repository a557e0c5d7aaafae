"""Reports: PNG plots, ``report.md`` and the saved result in one folder.

:func:`report` writes ``result.json`` and ``arrays.npz`` first (see :mod:`wse_sim.io`),
so a computed result is never lost if drawing fails, then the images and ``report.md``:

=====================  ====================================================================
``placement.png``      stage regions, coloured and labelled with their heavy op
``utilization.png``    per-core busy fraction
``sram.png``           per-core SRAM occupancy, KB
``link_loads.png``     busiest of the four outgoing links per core, wavelets per sample
``stage_cycles.png``   compute, fabric and memory cycles per stage, bottleneck marked
``timeline.png``       Gantt chart of the first 16 samples through the stages
``gpu.png``            the wafer against one GPU and the equivalent GPU cluster
``systems.png``        weight-streaming training: samples/s against 1..64 systems
=====================  ====================================================================

Every image has a fixed pixel size (:data:`IMAGE_SIZES`). Maps of a whole wafer are block-reduced
(:func:`block_reduce`) to at most :data:`MAP_CELLS` cells a side: max for utilisation, SRAM and
link loads so hot spots stay visible, the first core of a block for stage ids.
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_write_text
from ..baselines import gpu_summary
from ..engine import SimResult
from ..errors import WseSimError, WseSimFileError
from ..io import SavedRun, load_run, save_result
from ..validate import show
from ..validate.files import check_output_folder
from .charts import plot_gpu, plot_stage_cycles, plot_timeline
from .maps import plot_link_loads, plot_placement, plot_sram, plot_utilization
from .markdown import report_markdown
from .style import DEFAULT_GPU, IMAGES
from .systems import SYSTEMS_IMAGE, plot_systems, systems_section


def report(result, out_dir, gpu=None) -> Path:
    """Write a report of ``result`` into ``out_dir``; return the path of report.md.

    ``result`` is a SimResult (with or without its placement), a :class:`SavedRun` or the
    path of a saved ``result.json`` (or its folder). ``gpu`` is a GPU block (see
    :func:`wse_sim.baselines.gpu_summary`), a GpuResult, a GPU name (needs the placement's
    graph) or None (a saved run keeps its own; a fresh result is compared with a V100).
    ``result.json`` and ``arrays.npz`` are written
    before any image is drawn.
    """
    layout = None
    out = check_output_folder("report: out_dir", out_dir)
    if isinstance(result, (str, Path)):
        result = load_run(result)
    if not isinstance(result, (SimResult, SavedRun)):
        raise WseSimFileError(f"report: result must be a SimResult, a SavedRun or the path of a "
                              f"saved result.json, got {show(result)} ({type(result).__name__})")
    if isinstance(result, SavedRun):
        gpu = result.gpu if gpu is None else gpu
        layout, result = result.layout, result.result
    if gpu is None and result.placement is not None:
        gpu = DEFAULT_GPU
    if gpu is not None and not isinstance(gpu, dict):
        try:
            gpu = gpu_summary(result, gpu)
        except WseSimError as exc:
            gpu = {"name": str(gpu), "samples_per_s_per_gpu": None, "equivalent_gpus": None,
                   "note": f"no GPU baseline: {exc}"}
    if out.exists() and not out.is_dir():
        raise WseSimFileError(f"report folder {str(out)!r} is a file; choose a folder")
    save_result(result, out, gpu=gpu, layout=layout)
    where = SavedRun(result, gpu, layout) if result.placement is None else result
    images = {}
    for key, draw in (("placement", lambda p: plot_placement(where, p)),
                      ("utilization", lambda p: plot_utilization(result, p)),
                      ("sram", lambda p: plot_sram(where, p)),
                      ("link_loads", lambda p: plot_link_loads(result, p)),
                      ("stage_cycles", lambda p: plot_stage_cycles(result, p)),
                      ("timeline", lambda p: plot_timeline(result, p)),
                      ("gpu", lambda p: plot_gpu(result, gpu, p))):
        images[key] = draw(out / IMAGES[key][0])
    text = report_markdown(result, gpu, images)
    if (result.execution == "weight_streaming" and result.placement is not None
            and result.placement.streaming is not None and result.mode == "train"):
        plot_systems(result, out / SYSTEMS_IMAGE[0])  # weight streaming: the cluster chart
        # before the per-stage table, which ends the report
        text = text.replace("## Per-stage table", "\n".join(systems_section())
                            + "\n## Per-stage table", 1)
    md = out / "report.md"
    atomic_write_text(md, text)
    return md
