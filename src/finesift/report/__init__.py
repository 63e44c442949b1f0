"""``report.html``: one self-contained, offline page of what an audit, curate or compare folder found.

>>> from finesift.report import write_report
>>> write_report("audit-out")          # -> audit-out/report.html
"""

from .build import REPORT, detect, project_2d, write_report

__all__ = ["REPORT", "detect", "project_2d", "write_report"]
