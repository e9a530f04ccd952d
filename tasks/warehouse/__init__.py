"""Warehouse: the period's usable sources landed with lineage, and read back set-based.

Takes `Extracted` and `Validated` (only usable sources are loaded); gives
`Loaded` (the run's batches) and `ReportingData` (ledger sums, budgets, unit
tables of those batches). Any SQLAlchemy URL works: SQLite by default,
PostgreSQL for scale-out. Modules: `models` (tables, generated from the
contracts), `engine` (connect and migrate), `load`, `read`, `summaries` (each
batch's grouped sums, kept for later reports), `locks` (a run's hold on its
period), `history` (row counts and validation outcomes of earlier runs),
`migrations` (Alembic).
"""
