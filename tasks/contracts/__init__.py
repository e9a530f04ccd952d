"""Contracts: the single home of the facts every stage reads.

The structure (`structure.yaml`), the chart of accounts (`accounts.yaml`), the
source schemas (`sources.yaml`), thresholds and conventions (`settings.yaml`),
the indicator catalog's loader (`catalog`) and the small vocabulary of kinds,
periods, statuses, budget lines and output names (`vocab`). Everything that
knows a service name, an account range, a column or a threshold reads it from
here; the YAML files are the single home of those facts.

Takes nothing from the other stages; gives typed, cached views of the files.
"""

from tasks.contracts.chart import AccountGroup, Accounts, accounts
from tasks.contracts.config import Settings, local_zone, settings
from tasks.contracts.organisation import Area, AssessmentUnit, Service, Structure, structure
from tasks.contracts.reference import reference_values
from tasks.contracts.schemas import (
    NUMERIC_TYPES,
    Column,
    Source,
    reported_sources,
    source_title,
    sources,
    workbook_sheets,
)

__all__ = [
    "NUMERIC_TYPES",
    "AccountGroup",
    "Accounts",
    "Area",
    "AssessmentUnit",
    "Column",
    "Service",
    "Settings",
    "Source",
    "Structure",
    "accounts",
    "local_zone",
    "reference_values",
    "reported_sources",
    "settings",
    "source_title",
    "sources",
    "structure",
    "workbook_sheets",
]
