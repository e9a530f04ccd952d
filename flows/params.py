"""The report flow's parameters (the form the Prefect UI shows) and the controller's approval input."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Literal

from prefect.input import RunInput
from pydantic import BaseModel, Field, field_validator

from flows.home import PLACES, at_home, katsaus_home, warehouse_at_home
from tasks.contracts.vocab import PDF_CACHE, PERIOD_PATTERN, SOTKANET_CACHE, Kind, Period, parse_date

# A folder of typeset PDFs shared by every run of the machine, whatever its cache folder (e.g. the homes of a test
# and a production installation, or a test session's runs); unset, the run's own cache folder keeps them.
SHARED_PDF_CACHE = "KATSAUS_PDF_CACHE"


class RunParams(BaseModel):
    """Parameters of a report run: the Prefect UI shows these as a validated form."""

    period: str | None = Field(
        None,
        title="Raportointikausi",
        pattern=PERIOD_PATTERN,
        description="Raportointikauden viimeinen kuukausi, VVVV-KK. Tyhjä: ajastuksen päivää edeltävä kuukausi.",
    )
    kind: Kind = Field(
        "monthly",
        title="Raportin laji",
        description="Raportin laji: kuukausiraportti, toteutumisennuste tai toimintakertomus",
    )
    extracts: str = Field("var/extracts", title="Lähdetiedostot", description="Lähdetiedostojen kansio")
    out: str = Field("out", title="Tuloskansio", description="Tuloskansio")
    warehouse: str = Field(
        "sqlite:///var/warehouse.db", title="Tietovarasto", description="Tietovaraston SQLAlchemy-osoite"
    )
    cache_dir: str = Field(
        "var/cache",
        title="Välimuisti",
        description="Välimuistikansio (THL Sotkanetin vastaukset, ladotut PDF-tiedostot)",
    )
    archive: str = Field("var/archive", title="Arkisto", description="Hyväksyttyjen raporttien arkisto")
    publish_dir: str | None = Field(
        None, title="Julkaisukansio", description="Julkaisukansio, johon hyväksytty PDF kopioidaan"
    )
    report_date: dt.date | None = Field(
        None, title="Laatimispäivä", description="Raportin laatimispäivä, 24.9.2024 tai 2024-09-24 (oletus: tänään)"
    )
    meeting_date: dt.date | None = Field(
        None,
        title="Kokouspäivä",
        description="Lautakunnan kokouspäivä kanteen, 24.9.2024 tai 2024-09-24. Tyhjä: kokouskalenterin seuraava "
        "kokous (deployments/schedules.yaml), muuten kannessa on laatimispäivä.",
    )
    approve_as: str | None = Field(
        None,
        title="Hyväksy heti nimellä",
        description="Hyväksyjän nimi: hyväksyy ilman odotusta (ajo ilman käyttöliittymää)",
    )
    deliver: bool = Field(
        True,
        title="Pyydä hyväksyntä ja toimita",
        description="Pyydä hyväksyntä ja toimita hyväksytty raportti lautakunnalle",
    )
    force: bool = Field(
        False,
        title="Lue kaikki uudelleen",
        description="Lataa lähteet tietovarastoon uudelleen, vaikka tiedostot eivät ole muuttuneet",
    )
    strict: bool = Field(False, title="Tiukka ajo", description="Puuttuva tai virheellinen lähde on virhe")
    approval_timeout_hours: float | None = Field(
        None,
        title="Hyväksynnän odotus (tuntia)",
        gt=0,
        description="Kuinka kauan hyväksyntää odotetaan (tuntia). Tyhjä: raportin lajin työpäivät "
        "(deployments/schedules.yaml), viikonloput ja arkipyhät pois lukien.",
    )

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

    @property
    def sotkanet_cache(self) -> Path:
        """THL Sotkanet's cached answers, in the run's cache folder."""
        return Path(self.cache_dir) / SOTKANET_CACHE

    @property
    def pdf_cache(self) -> Path:
        """The PDFs typeset earlier (the draft's and the approved report's): in the run's cache folder, or in the
        machine's shared folder `KATSAUS_PDF_CACHE`."""
        return Path(os.environ.get(SHARED_PDF_CACHE) or Path(self.cache_dir) / PDF_CACHE)


def placed(params: RunParams, home: Path | None = None) -> RunParams:
    """The run's places made absolute against the home, so that no default depends on the working folder."""
    home = home or katsaus_home()
    update = {f: at_home(getattr(params, f), home) for f in PLACES if getattr(params, f)}
    return params.model_copy(update={**update, "warehouse": warehouse_at_home(params.warehouse, home)})


class Approval(RunInput):
    """The controller's decision, asked in the Prefect UI when the draft is ready."""

    # The UI shows each field's title and description: in Finnish, as the controller reads them.
    approver: str = Field(
        min_length=1,
        title="Hyväksyjä",
        description="Oma nimesi kuten se on hyväksyjien luettelossa; näkyy hyväksytyn raportin kannessa.",
    )
    decision: Literal["hyväksy", "hylkää"] = Field(
        title="Päätös",
        description="Hyväksy: raportti arkistoidaan ja lähetetään lautakunnalle. Hylkää: mitään ei lähetetä; "
        "korjaa lähteet tai kommentit ja aja kausi uudelleen.",
    )
    comment: str = Field(
        "",
        title="Huomautus",
        description="Näkyy hyväksytyn raportin kannessa, tai hylkäyksen syynä ajon tiedoissa (ei henkilötunnuksia).",
    )
