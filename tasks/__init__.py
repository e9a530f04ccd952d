"""The stages of the report pipeline, one package each, in pipeline order.

`contracts` (the facts every stage reads) → `ingest` (files read, typed,
guarded and validated) → `warehouse` (landed with lineage, read back) →
`finance` (budget follow-up, reconciliation) → `goals` (indicators and their
assessment) → `report` (the board report rendered) → `deliver` (archived and
e-mailed once); `samples` writes the demo's extracts. Each stage imports only
the ones before it, and none imports Prefect: `flows/` composes them.
"""
