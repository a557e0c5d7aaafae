"""Reports: PNG plots, ``report.md`` and the saved result in one folder."""

from .charts import plot_gpu, plot_stage_cycles, plot_timeline
from .maps import plot_link_loads, plot_placement, plot_sram, plot_utilization
from .markdown import report_markdown, summary_rows
from .report import report
from .style import IMAGE_SIZES, IMAGES, block_reduce, map_factor

__all__ = ["IMAGES", "IMAGE_SIZES", "block_reduce", "map_factor", "plot_gpu", "plot_link_loads",
           "plot_placement", "plot_sram", "plot_stage_cycles", "plot_timeline",
           "plot_utilization", "report", "report_markdown", "summary_rows"]
