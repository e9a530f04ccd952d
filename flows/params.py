"""The report flow's parameters (the form the Prefect UI shows) and the controller's approval input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from prefect.input import RunInput
from pydantic import BaseModel, Field, field_validator

from flows.home import PLACES, at_home, katsaus_home, warehouse_at_home
from tasks.contracts.vocab import PERIOD_PATTERN, Kind, Period, parse_date


class RunParams(BaseModel):
    """Parameters of a report run: the Prefect UI shows these as a validated form."""

    period: str | None = Field(
        None,
        pattern=PERIOD_PATTERN,
        description="Raportointikauden viimeinen kuukausi, VVVV-KK. Tyhjä: ajastuksen päivää edeltävä kuukausi.",
    )
    kind: Kind = Field("monthly", description="Raportin laji: kuukausiraportti, toteutumisennuste tai toimintakertomus")
    extracts: str = Field("var/extracts", description="Lähdetiedostojen kansio")
    out: str = Field("out", description="Tuloskansio")
    warehouse: str = Field("sqlite:///var/warehouse.db", description="Tietovaraston SQLAlchemy-osoite")
    cache_dir: str = Field("var/cache", description="Välimuistikansio (THL Sotkanetin vastaukset)")
    archive: str = Field("var/archive", description="Hyväksyttyjen raporttien arkisto")
    publish_dir: str | None = Field(None, description="Julkaisukansio, johon hyväksytty PDF kopioidaan")
    report_date: dt.date | None = Field(
        None, description="Raportin laatimispäivä, 24.9.2024 tai 2024-09-24 (oletus: tänään)"
    )
    meeting_date: dt.date | None = Field(
        None,
        description="Lautakunnan kokouspäivä kanteen, 24.9.2024 tai 2024-09-24. Tyhjä: kokouskalenterin seuraava "
        "kokous (deployments/schedules.yaml), muuten kannessa on laatimispäivä.",
    )
    approve_as: str | None = Field(
        None, description="Hyväksyjän nimi: hyväksyy ilman odotusta (ajo ilman käyttöliittymää)"
    )
    deliver: bool = Field(True, description="Pyydä hyväksyntä ja toimita hyväksytty raportti lautakunnalle")
    force: bool = Field(
        False, description="Lataa lähteet tietovarastoon uudelleen, vaikka tiedostot eivät ole muuttuneet"
    )
    strict: bool = Field(False, description="Puuttuva tai virheellinen lähde on virhe")
    approval_timeout_hours: float = Field(72.0, gt=0, description="Kuinka kauan hyväksyntää odotetaan (tuntia)")

    @field_validator("report_date", "meeting_date", mode="before")
    @classmethod
    def _finnish_dates(cls, value):
        return parse_date(value) if isinstance(value, str) and value.strip() else value

    @property
    def reporting_period(self) -> Period:
        return Period.parse(self.period)

    @property
    def year(self) -> int:
        return self.reporting_period.year

    @property
    def month(self) -> int:
        return self.reporting_period.month


def placed(params: RunParams, home: Path | None = None) -> RunParams:
    """The run's places made absolute against the home, so that no default depends on the working folder."""
    home = home or katsaus_home()
    update = {f: at_home(getattr(params, f), home) for f in PLACES if getattr(params, f)}
    return params.model_copy(update={**update, "warehouse": warehouse_at_home(params.warehouse, home)})


class Approval(RunInput):
    """The controller's decision, asked in the Prefect UI when the draft is ready."""

    approver: str = Field(min_length=1, description="Hyväksyjän nimi")
    decision: Literal["hyväksy", "hylkää"] = Field(description="Toimitetaanko raportti lautakunnalle")
    comment: str = Field("", description="Huomautus: näkyy hyväksytyn raportin kannessa tai hylkäyksen syynä")
