"""Report: the Finnish board report rendered from the stages' results, and the run's other outputs.

Takes the period, `Finance`, `Reconciliation`, the sources' statuses,
`GoalResults` and the city comparison; gives the rendered draft
(`RenderedReport`: report.html, report.pdf, the context and its content
fingerprint), the CSVs and the manifest, and the Finnish summaries a
controller and the board's e-mail read. In order: `charts`, `context` (what
the template shows), `render` (HTML and PDF), `outputs` (CSVs, manifest, the
swap into place), `summary` (key figures and summaries).
"""
