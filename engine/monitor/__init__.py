"""What managers see: the overdue and due-next lists, the DRP tracker and the KPI scorecard.

Pure queries over the store's tables (no web, no printing): the dashboard, `caseclock report`
and the benchmark all call these, so a figure is computed one way wherever it is shown.
"""
