"""Deterministic sample extracts of the operational sources (indicators and staffing).

Each source gets the files its contract names for the sample year and the
years of history a report reads. The levels come from
`tasks/samples/operations_2024.yaml` (table 7 baselines and table 8
headcounts of the seeds). Like real exports, the files differ in encoding,
delimiter, date and number format. Event sources (rescue missions, transfers,
feedback answers) have one row per event; `scale` multiplies their rows.
Same arguments, same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from tasks.contracts import Source, sources, structure
from tasks.samples.common import format_fi, sample_parameters, seed_of, write_csv

PARAMS_FILE = "operations_2024.yaml"
MONTHS = np.arange(1, 13)
# Activity over the year: summer is quiet, autumn busy.
ACTIVITY = np.array([1.02, 1.0, 1.04, 0.99, 1.0, 0.93, 0.74, 0.9, 1.05, 1.08, 1.06, 0.96])
# Leavers per month: the end of the spring term, summer and the turn of the year.
LEAVING = np.array([1.1, 0.8, 0.85, 0.85, 1.0, 1.35, 1.2, 1.3, 0.9, 0.85, 0.8, 1.0])
# Transfer delays grow in the epidemic season.
WINTER = np.array([1.18, 1.15, 1.08, 1.0, 0.95, 0.9, 0.85, 0.88, 0.95, 1.0, 1.05, 1.12])


def operations_params() -> dict:
    return sample_parameters(PARAMS_FILE)


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(seed_of("operational", *parts))


def _days(year: int, month: int) -> int:
    return (dt.date(year + (month == 12), month % 12 + 1, 1) - dt.date(year, month, 1)).days


def _fi(values: pd.Series, decimals: int, group: str = "") -> pd.Series:
    return format_fi(pd.Series(values, dtype="float64").reset_index(drop=True), decimals, group=group)


def _scores(rng: np.random.Generator, n: int, nps: float) -> np.ndarray:
    """`n` answers on the 0-10 scale whose NPS (% promoters - % detractors) is about `nps`."""
    detractors = 0.45 * (1 - nps / 100) / 2
    promoters = nps / 100 + detractors
    group = rng.choice(3, size=n, p=[detractors, 1 - promoters - detractors, promoters])
    low = rng.choice(np.arange(7), size=n, p=np.array([1, 1, 1, 2, 3, 5, 7]) / 20)
    mid = rng.choice([7, 8], size=n, p=[0.45, 0.55])
    high = rng.choice([9, 10], size=n, p=[0.45, 0.55])
    return np.select([group == 0, group == 1], [low, mid], high)


def _times(rng: np.random.Generator, year: int, month: int, n: int) -> pd.Series:
    """`n` moments of the month, more by day than by night, sorted."""
    day = rng.integers(0, _days(year, month), size=n)
    hour = rng.choice(24, size=n, p=np.r_[np.full(7, 0.5), np.full(15, 1.6), np.full(2, 0.9)] / 29.3)
    seconds = day * 86400 + hour * 3600 + rng.integers(0, 3600, size=n)
    return pd.Series(np.sort(pd.Timestamp(year, month, 1).to_datetime64() + seconds.astype("timedelta64[s]")))


def _yearly(p: dict, year: int) -> float:
    return float(p[year])


def _ramp(p: dict, year: int, month: int) -> float:
    """A share moving linearly from January's to December's level."""
    first, last = p[year]
    return first + (last - first) * (month - 1) / 11


def personnel(p: dict, year: int, month: int, scale: int) -> pd.DataFrame:
    rng = _rng("personnel", year, month)
    cfg = p["personnel"]
    areas = list(cfg["headcount"])
    base = np.array([cfg["headcount"][a][year] for a in areas], dtype=float)
    summer = 1.04 if month in (6, 7, 8) else 1.0  # summer substitutes
    headcount = np.round(base * summer * rng.normal(1, 0.004, len(areas)))
    permanent = np.round(base * cfg["permanent_share"] * rng.normal(1, 0.003, len(areas)))
    leavers = rng.poisson(permanent * cfg["turnover"][year] / 12 * LEAVING[month - 1] / LEAVING.mean())
    return pd.DataFrame(
        {
            "Vuosi": year,
            "Kuukausi": month,
            "Palvelukokonaisuus": areas,
            "Henkilostomaara": headcount.astype(int),
            "Vakituiset": permanent.astype(int),
            "Vakituisista_lahteneet": leavers,
        }
    )


def personnel_plan(p: dict, year: int, month: int, scale: int) -> pd.DataFrame:
    heads = p["personnel"]["headcount"]
    return pd.DataFrame(
        {
            "Vuosi": year,
            "Palvelukokonaisuus": list(heads),
            # Hand-kept sheet: thousands grouped with a no-break space.
            "Henkilostomaara": _fi([heads[a][year] for a in heads], 0, group="\u00a0"),
        }
    )


def access(p: dict, year: int, month: int, scale: int) -> pd.DataFrame:
    cfg = p["access"]
    stations = list(structure().health_stations)
    # Each station keeps its own level from month to month.
    station_rng = _rng("stations")
    size = station_rng.uniform(*cfg["visits_per_station"], len(stations))
    level = np.exp(station_rng.normal(0, 0.35, len(stations)))
    rng = _rng("access", year, month)
    t3 = np.round(
        cfg["t3_days"][year]
        * level
        / np.median(level)
        * (1.25 if month in (6, 7, 8) else 1.0)
        * rng.normal(1, 0.08, len(stations))
    )
    visits = rng.poisson(size * ACTIVITY[month - 1])
    share = np.clip(0.97 - 0.017 * np.maximum(t3 - 4, 0), 0.2, 0.97)
    return pd.DataFrame(
        {
            "Vuosi": year,
            "Kuukausi": month,
            "Terveysasema": stations,
            "T3_vrk": _fi(t3, 0),
            "Kiireettomat_kaynnit": visits,
            "Kaynnit_14_vrk_kuluessa": rng.binomial(visits, share),
        }
    )


def assessments(p: dict, year: int, month: int, scale: int) -> pd.DataFrame:
    cfg = p["assessments"]
    rng = _rng("assessments", year, month)
    completed = rng.poisson(np.array(cfg["completed"]) * ACTIVITY[month - 1])
    return pd.DataFrame(
        {
            "Vuosi": year,
            "Kuukausi": month,
            "Yksikko": [u.name for u in structure().assessment_units],
            "Valmistuneet": completed,
            "Lakisaateisessa_ajassa": rng.binomial(completed, cfg["on_time"][year]),
        }
    )


def rescue(p: dict, year: int, month: int, scale: int) -> pd.DataFrame:
    cfg = p["rescue"]
    rng = _rng("rescue", year, month, scale)
    n = rng.poisson(cfg["missions_per_month"] * scale * ACTIVITY[month - 1] ** 0.3)
    classes = list(cfg["risk_class_shares"])
    risk = rng.choice(classes, size=n, p=list(cfg["risk_class_shares"].values()))
    sigma = 0.42
    # Log-normal response times: area I's median is set so that the target share arrives within 360 s.
    median_i = 360 / np.exp(sigma * NormalDist().inv_cdf(_yearly(cfg["within_limit_class_i"], year)))
    median = pd.Series(risk).map({"I": median_i, **cfg["median_s"]}).to_numpy()
    response = np.maximum(np.round(median * np.exp(rng.normal(0, sigma, n))), 30).astype(int)
    return pd.DataFrame(
        {
            "Tehtavatunnus": [f"PEL-{year}{month:02d}-{i:07d}" for i in range(1, n + 1)],
            "Halytysaika": _times(rng, year, month, n).dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(),
            "Riskialueluokka": risk,
            "Toimintavalmiusaika_s": response,
        }
    )


def transfers(p: dict, year: int, month: int, scale: int) -> pd.DataFrame:
    cfg = p["transfers"]
    rng = _rng("transfers", year, month, scale)
    origins = list(cfg["per_month"])
    counts = rng.poisson(np.array(list(cfg["per_month"].values())) * scale)
    origin = np.repeat(origins, counts)
    n = len(origin)
    delay = np.round(rng.exponential(cfg["mean_delay_days"][year] * WINTER[month - 1], n), 2)
    ids = pd.util.hash_array(np.array([f"siirto|{year}|{month}|{scale}|{i}" for i in range(n)], dtype=object))
    stamp = _times(rng, year, month, n)
    order = rng.permutation(n)
    return pd.DataFrame(
        {
            "Siirtotunnus": [f"{h:016x}" for h in ids],
            # Finnish dates, the way this upstream system writes them.
            "Siirtopaiva": (
                stamp.dt.day.astype(str) + "." + stamp.dt.month.astype(str) + "." + stamp.dt.year.astype(str)
            ).to_numpy(),
            "Lahtopaikka": origin[order],
            "Siirtoviive_vrk": _fi(delay[order], 2).to_numpy(),
        }
    )


def _feedback_rows(
    p: dict, cfg: dict, areas: list[str], prefix: str, year: int, month: int, n: int, rng: np.random.Generator
) -> pd.DataFrame:
    score = _scores(rng, n, cfg["nps"][year] + rng.normal(0, 1.5))
    comments = np.array(p["comments"], dtype=object)
    comment = np.where(rng.random(n) < 0.12, comments[rng.integers(0, len(comments), n)], "")
    return pd.DataFrame(
        {
            "Vastaustunnus": [f"{prefix}{year}{month:02d}{i:07d}" for i in range(1, n + 1)],
            "Vastauspaiva": _times(rng, year, month, n).dt.strftime("%Y-%m-%d").to_numpy(),
            "Palvelukokonaisuus": rng.choice(areas, size=n),
            "Suosittelu": score,
            "Avoin_palaute": comment,
        }
    )


def feedback(p: dict, year: int, month: int, scale: int) -> pd.DataFrame:
    cfg = p["feedback"]
    rng = _rng("feedback", year, month, scale)
    n = rng.poisson(cfg["answers_per_month"] * scale * ACTIVITY[month - 1])
    return _feedback_rows(p, cfg, cfg["areas"], "AP", year, month, n, rng)


def applicant_feedback(p: dict, year: int, month: int, scale: int) -> pd.DataFrame | None:
    cfg = p["applicant_feedback"]
    if month not in cfg["months"]:
        return None  # no survey round this month: no file
    rng = _rng("applicant", year, month, scale)
    n = rng.poisson(cfg["answers_per_month"] * scale)
    return _feedback_rows(p, cfg, structure().staffed_areas, "HK", year, month, n, rng)


def homelessness(p: dict, year: int, month: int, scale: int) -> pd.DataFrame | None:
    groups = {g: v[year] for g, v in p["homelessness"].items() if year in v}
    if not groups:
        return None  # the year's count is not published yet
    return pd.DataFrame({"Vuosi": year, "Ryhma": list(groups), "Lukumaara": _fi(list(groups.values()), 0, group=" ")})


def plastic(p: dict, year: int, month: int, scale: int) -> pd.DataFrame:
    rng = _rng("plastic", year, month)
    heads = p["personnel"]["headcount"]
    weight = np.array([heads[a][year] for a in heads], dtype=float)
    tonnes = (
        p["plastic"]["tonnes_per_year"][year]
        / 12
        * ACTIVITY[month - 1]
        * weight
        / weight.sum()
        * rng.normal(1, 0.06, len(weight))
    )
    return pd.DataFrame(
        {"Vuosi": year, "Kuukausi": month, "Palvelukokonaisuus": list(heads), "Tonnia": _fi(np.round(tonnes, 2), 2)}
    )


def mobility(p: dict, year: int, month: int, scale: int) -> pd.DataFrame:
    cfg = p["mobility"]
    rng = _rng("mobility", year, month)
    services = list(cfg["clients"])
    clients = rng.poisson(np.array(list(cfg["clients"].values()), dtype=float))
    share = np.clip(_ramp(cfg["share"], year, month) + rng.normal(0, 0.012, len(services)), 0, 1) * 100
    return pd.DataFrame(
        {
            "Vuosi": year,
            "Kuukausi": month,
            "Palvelu": services,
            "Asiakkaat": clients,
            "Liikkumissopimus_pct": _fi(np.round(share, 1), 1) + " %",
        }
    )


def hyva(p: dict, year: int, month: int, scale: int) -> pd.DataFrame:
    cfg = p["hyva"]
    rng = _rng("hyva", year, month)
    services = list(cfg["trained"])
    growth = 1 + 0.004 * ((year - 2023) * 12 + month)
    trained = np.round(np.array(list(cfg["trained"].values())) * growth).astype(int)
    return pd.DataFrame(
        {
            "Vuosi": year,
            "Kuukausi": month,
            "Palvelu": services,
            "Koulutetut": trained,
            "Soveltavat": rng.binomial(trained, _ramp(cfg["share"], year, month)),
        }
    )


def manual(p: dict, year: int, month: int, scale: int) -> pd.DataFrame:
    rows = [
        {
            "Vuosi": year,
            "Kuukausi": m,
            "Mittari": ind,
            "Arvo": v,
            "Ennuste": cfg["forecast"],
            "Lisatieto": cfg["note"] if m == 12 else "",
        }
        for ind, cfg in p["manual"].items()
        for m, v in zip(MONTHS, cfg["values"])
    ]
    return pd.DataFrame(rows).sort_values(["Kuukausi", "Mittari"], kind="stable")


# How each source is written: the generator and the export's quirks.
Writer = tuple[Callable[..., pd.DataFrame | None], dict]
WRITERS: dict[str, Writer] = {
    "personnel": (personnel, {"encoding": "utf-8-sig"}),
    "personnel_plan": (personnel_plan, {"encoding": "cp1252", "newline": "\r\n"}),
    "access": (access, {"encoding": "cp1252", "newline": "\r\n"}),
    "assessments": (assessments, {"encoding": "utf-8", "sep": ","}),
    "rescue": (rescue, {"encoding": "utf-8"}),
    "transfers": (transfers, {"encoding": "utf-8", "trailing": "\n\n"}),
    "feedback": (feedback, {"encoding": "utf-8-sig"}),
    "applicant_feedback": (applicant_feedback, {"encoding": "utf-8"}),
    "homelessness": (homelessness, {"encoding": "cp1252", "newline": "\r\n"}),
    "plastic": (plastic, {"encoding": "utf-8"}),
    "mobility": (mobility, {"encoding": "utf-8"}),
    "hyva": (hyva, {"encoding": "utf-8-sig"}),
    "manual": (manual, {"encoding": "utf-8"}),
}


def _periods(src: Source, year: int) -> list[tuple[int, int]]:
    """The sample writes every period a report of `year` can read: all months of the history and the year."""
    years = range(year - src.history_years, year + 1)
    return [(y, m) for y in years for m in (MONTHS if src.period == "month" else [12])]


def write_operational(out: Path, year: int, scale: int = 1) -> list[Path]:
    """Write every operational source's sample files for `year` and its history into `out`."""
    params = operations_params()
    written = []
    for sid, (make, style) in WRITERS.items():
        src = sources()[sid]
        for y, m in _periods(src, year):
            frame = make(params, y, int(m), scale)
            if frame is None:
                continue
            if list(frame.columns) != src.names:  # the generator must follow the contract
                raise RuntimeError(f"sample of {sid} does not follow its contract")
            path = out / src.file_name(y, int(m))
            write_csv(path, frame, **style)
            written.append(path)
    return written
