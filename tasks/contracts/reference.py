"""Reference tables a source column may point to with `ref:` (the structure's and the catalog's names)."""

from __future__ import annotations

from tasks.contracts.catalog import catalog
from tasks.contracts.organisation import structure


def reference_values() -> dict[str, list[str]]:
    """The reference tables, by name.

    The suites receive these at run time (as suite parameters `ref_<name>`), so
    the structure is declared once and never copied into a suite.
    """
    st = structure()
    return {
        "areas": [a.name for a in st.areas],
        "staffed_areas": st.staffed_areas,
        "sheet_areas": [a.name for a in st.sheet_areas],
        "services": [s.name for s in st.services],
        "budget_items": [st.sector, *st.budget_items],
        "health_stations": list(st.health_stations),
        "assessment_units": [u.name for u in st.assessment_units],
        "manual_indicators": [i.id for i in catalog().indicators if i.source == "manual"],
        "goals": [g.id for g in catalog().goals],
        "indicators": [i.id for i in catalog().indicators],
    }
