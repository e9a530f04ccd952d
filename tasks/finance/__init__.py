"""Finance: the budget follow-up and the reconciliation of every total, identity and roll-up.

Takes `ReportingData` (the run's ledger sums and budgets) and the ledger's
control facts; gives `Finance` (`followup`: forecast per service, the budget
table, the month profile, the binding level) and `Reconciliation`
(`reconcile`: every comparison as a row of reconciliation.csv).
"""
