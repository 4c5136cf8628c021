"""``memo report``: a self-contained HTML page of a scored library (see :mod:`memo.report.writer`)."""

from memo.report.writer import ReportOptions, ReportSummary, check_report_options, write_report

__all__ = ["ReportOptions", "ReportSummary", "check_report_options", "write_report"]
