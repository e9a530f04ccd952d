"""Goals: the binding goals and their indicators from the catalog, assessed; tables by unit; the city comparison.

Takes the run's batches (through the warehouse), the sources' statuses and the
finances; gives `GoalResults` (every indicator's actual, forecast, assessment
and chart data, each goal's assessment, the tables by unit) and a
`Comparison` with the largest cities (THL Sotkanet). In order: `formulas`
(SQL over the batches), `measure` (actual, forecast, series), `assess`,
`spc` (control charts), `disclosure` (small counts), `unit_tables`,
`results`, `sotkanet`.
"""
