"""Ingest: the period's source files read, typed, guarded and validated.

Takes the extracts folder and the contracts; gives `Extracted` (every source's
typed rows, its files with their SHA-256, the errors found) and `Validated`
(every source's status after its Great Expectations suite: usable, missing or
quarantined, and why). In pipeline order: `files` (which files), `parsing`
(messy Finnish exports to text columns), `extract` and `ledger` (typed rows),
`rows` (a source's typed rows, part by part, spilled to disk), `pii` (the
personal-data guard), `period` (every source), `validate` (the suites, run a
part at a time), `partwise` (the parts' results as one), `quality` (the statuses).
"""
