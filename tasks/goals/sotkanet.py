"""THL Sotkanet REST API: the sector's indicators compared with Finland's largest cities.

The client asks three things of the public API (default https://sotkanet.fi/rest/1.1):
`/regions` (every region with its id, category and titles), `/indicators/{id}`
(an indicator's Finnish title and value type) and
`/json?indicator=N&years=Y&years=…&genders=total` (values of every region).
Region ids are never hard-coded: cities are found by their Finnish title among the
regions of the municipality category (`region_category` in settings.yaml).

Every request has a timeout; connection errors, timeouts, HTTP 429 and 5xx are
retried with exponential backoff, other 4xx are not. A failure after the retries
raises `SotkanetUnavailable`, whose message is Finnish and names the host and the
reason. Answers are cached per query (method + URL + sorted parameters → SHA-256
→ one JSON file), so the same query is asked once. When the service cannot be
reached, an expired cached answer is used instead, and the comparison says on
which day it was fetched (`Comparison.as_of`).

`city_comparison` builds the tidy comparison frame; the Prefect task
`sotkanet_comparison` turns an unreachable API into an empty comparison whose
problem says the comparison is missing, so the rest of the report is unaffected.

`python -m tasks.goals.sotkanet record …` stores real responses as test recordings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pandas as pd

from reports import fmt
from tasks.contracts import settings

ENV_URL = "KATSAUS_SOTKANET_URL"
# Sotkanet answers 403 to requests without a User-Agent.
USER_AGENT = "katsaus/0.1 (municipal board reports)"
GENDER = "total"
# How many years back the comparison looks when the requested year has no data yet.
FALLBACK_YEARS = 2

PATH_REGIONS = "/regions"
PATH_INDICATORS = "/indicators"
PATH_DATA = "/json"

COLUMNS = ["indicator_id", "indicator", "city", "region_id", "year", "value", "unit"]
_DTYPES = {
    "indicator_id": "Int64",
    "indicator": "string",
    "city": "string",
    "region_id": "Int64",
    "year": "Int64",
    "value": "float64",
    "unit": "string",
}

Params = list[tuple[str, str]]


# --- configuration -------------------------------------------------------------------


@dataclass(frozen=True)
class SotkanetSettings:
    """The `sotkanet:` block of `tasks/contracts/settings.yaml`, typed."""

    base_url: str
    timeout_seconds: float
    retries: int
    backoff_seconds: float
    cities: tuple[str, ...]
    region_category: str
    indicators: tuple[int, ...] = ()
    # None: a cached answer never expires.
    cache_max_age_hours: float | None = 24.0


def sotkanet_settings(**overrides: Any) -> SotkanetSettings:
    """The declared settings; `KATSAUS_SOTKANET_URL` replaces the base URL, explicit overrides win."""
    raw = dict(settings().sotkanet)
    if os.environ.get(ENV_URL):
        raw["base_url"] = os.environ[ENV_URL]
    raw.update(overrides)
    age = raw.get("cache_max_age_hours")
    return SotkanetSettings(
        base_url=str(raw["base_url"]).rstrip("/"),
        timeout_seconds=float(raw["timeout_seconds"]),
        retries=int(raw["retries"]),
        backoff_seconds=float(raw["backoff_seconds"]),
        cities=tuple(raw["cities"]),
        indicators=tuple(int(i) for i in raw.get("indicators", ())),
        region_category=str(raw["region_category"]),
        cache_max_age_hours=None if age is None else float(age),
    )


# --- errors ----------------------------------------------------------------------------


class SotkanetUnavailable(Exception):
    """THL Sotkanet gave no usable answer; the message is Finnish and has no traceback text."""

    def __init__(self, host: str, reason: str, status: int | None = None):
        self.host = host
        self.reason = reason
        self.status = status
        super().__init__(f"Tietoa ei saatu THL Sotkanetista ({host}): {reason}")


# --- the client ------------------------------------------------------------------------


def cache_key(method: str, url: str, params: Iterable[tuple[str, Any]]) -> str:
    """SHA-256 of the query; parameter order does not matter, repeated keys do."""
    canon = [method.upper(), url, sorted((str(k), str(v)) for k, v in params)]
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False).encode("utf-8")).hexdigest()


def data_params(indicator_id: int, years: Sequence[int], gender: str = GENDER) -> Params:
    """Query of `/json`: one `years` parameter per year, as the API expects."""
    return [("indicator", str(indicator_id)), *(("years", str(y)) for y in years), ("genders", gender)]


class SotkanetClient:
    """A small client of the Sotkanet REST API with timeouts, retries and a query cache.

    `cache_dir` None keeps answers in memory for the client's lifetime only.
    `sleep` is injectable so tests can see the backoff without waiting for it.
    """

    def __init__(
        self,
        config: SotkanetSettings | None = None,
        cache_dir: Path | str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.config = config or sotkanet_settings()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._sleep = sleep
        self._memo: dict[str, Any] = {}
        # The day of the oldest expired answer used because the service did not answer.
        self.stale_since: dt.date | None = None
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.config.timeout_seconds),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=True,
        )

    def __enter__(self) -> SotkanetClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def host(self) -> str:
        return urlsplit(self.config.base_url).netloc or self.config.base_url

    # The API's resources.

    def regions(self) -> list[dict]:
        return self.get_json(PATH_REGIONS, expect=list)

    def indicators(self) -> list[dict]:
        return self.get_json(PATH_INDICATORS, expect=list)

    def indicator(self, indicator_id: int) -> dict:
        return self.get_json(f"{PATH_INDICATORS}/{int(indicator_id)}", expect=dict)

    def data(self, indicator_id: int, years: Sequence[int], gender: str = GENDER) -> list[dict]:
        return self.get_json(PATH_DATA, data_params(indicator_id, years, gender), expect=list)

    # Transport.

    def get_json(self, path: str, params: Params | None = None, *, expect: type = object) -> Any:
        """The parsed answer to GET `path`, from the cache when the same query was asked."""
        params = list(params or [])
        url = self.config.base_url + path
        key = cache_key("GET", url, params)
        if key in self._memo:
            return self._memo[key]
        body, fetched, fresh = self._read_cache(key)
        if not fresh:
            try:
                body = self._fetch(url, path, params)
            except SotkanetUnavailable as exc:
                # An unreachable or broken service is answered from an expired entry, labelled with its
                # day; a refusal (4xx, e.g. an indicator that no longer exists) is not.
                if body is None or (exc.status is not None and 400 <= exc.status < 500):
                    raise
                self.stale_since = min(filter(None, (self.stale_since, fetched)), default=None)
            else:
                if not isinstance(body, expect):
                    raise SotkanetUnavailable(self.host, f"{path}: vastaus ei ollut odotetun muotoinen")
                self._write_cache(key, url, params, body)
        self._memo[key] = body
        return body

    def _fetch(self, url: str, path: str, params: Params) -> Any:
        attempts = 1 + max(self.config.retries, 0)
        reason, cause = "", None
        for n in range(attempts):
            if n:
                self._sleep(self.config.backoff_seconds * 2 ** (n - 1))
            try:
                resp = self._http.get(url, params=params, timeout=self.config.timeout_seconds)
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise SotkanetUnavailable(self.host, f"virheellinen osoite {self.config.base_url}") from exc
            except httpx.TimeoutException as exc:
                reason, cause = f"aikakatkaisu, ei vastausta {fmt.short(self.config.timeout_seconds)} sekunnissa", exc
                continue
            except httpx.ConnectError as exc:
                # The name does not resolve or nothing listens (no network, a closed port): asking again in a
                # few seconds would not help, and the report waits. The cache answers instead.
                raise SotkanetUnavailable(self.host, "yhteyttä palvelimeen ei saatu") from exc
            except httpx.TransportError as exc:
                reason, cause = "yhteyttä palvelimeen ei saatu", exc
                continue
            status = resp.status_code
            if status == 429 or status >= 500:
                # Overload and server faults pass; ask again after a pause.
                reason, cause = f"palvelin vastasi HTTP {status}", None
                continue
            if status >= 400:
                raise SotkanetUnavailable(self.host, f"{path}: palvelin hylkäsi pyynnön (HTTP {status})", status)
            try:
                return resp.json()
            except ValueError as exc:
                # A broken body is not a passing fault: asking again would give the same.
                raise SotkanetUnavailable(self.host, f"{path}: vastaus ei ollut kelvollista JSONia", status) from exc
        raise SotkanetUnavailable(self.host, f"{reason} ({fmt.count(attempts, 'yritys', 'yritystä')})") from cause

    def _cache_file(self, key: str) -> Path | None:
        return self.cache_dir / f"{key}.json" if self.cache_dir is not None else None

    def _read_cache(self, key: str) -> tuple[Any | None, dt.date | None, bool]:
        """The cached answer, the day it was fetched, and whether it is fresh enough to use without asking."""
        path = self._cache_file(key)
        if path is None or not path.exists():
            return None, None, False
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            body = entry["body"]
        except (ValueError, KeyError, TypeError):
            return None, None, False  # a damaged cache file is asked again, not trusted
        modified = path.stat().st_mtime
        try:
            fetched = dt.datetime.fromisoformat(entry["fetched_at"]).date()
        except (KeyError, TypeError, ValueError):
            fetched = dt.datetime.fromtimestamp(modified, dt.UTC).date()
        max_age = self.config.cache_max_age_hours
        fresh = max_age is None or time.time() - modified <= max_age * 3600
        return body, fetched, fresh

    def _write_cache(self, key: str, url: str, params: Params, body: Any) -> None:
        path = self._cache_file(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "method": "GET",
            "url": url,
            "params": params,
            "fetched_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "body": body,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)  # readers never see half a file


# --- the comparison --------------------------------------------------------------------


@dataclass
class Comparison:
    """Values of the compared cities, one row per indicator and city, and Finnish problems."""

    frame: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    # Set when the service did not answer and earlier answers were used: the day they were fetched.
    as_of: dt.date | None = None

    @classmethod
    def empty(cls, problems: Iterable[str] = ()) -> Comparison:
        return cls(empty_frame(), list(problems))

    @property
    def available(self) -> bool:
        return not self.frame.empty


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _DTYPES.items()})


def municipalities(regions: list[dict], category: str) -> pd.DataFrame:
    """`region_id`, `city` (Finnish title) and `code` of the regions of one category."""
    df = pd.json_normalize(regions) if regions else pd.DataFrame()
    df = df.reindex(columns=["id", "category", "code", "title.fi"])
    df = df[df["category"] == category]
    return pd.DataFrame(
        {"region_id": df["id"].astype("Int64"), "city": df["title.fi"].astype("string"), "code": df["code"]}
    ).reset_index(drop=True)


def _fold(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip().str.casefold()


def match_cities(munis: pd.DataFrame, cities: Sequence[str], category: str) -> tuple[pd.DataFrame, list[str]]:
    """The wanted cities' regions (Sotkanet's spelling), in the order asked, and those not found."""
    wanted = pd.DataFrame({"asked": list(cities)})
    wanted["key"] = _fold(wanted["asked"])
    known = munis.assign(key=_fold(munis["city"])).drop_duplicates("key")
    merged = wanted.merge(known, on="key", how="left")
    missing = merged.loc[merged["region_id"].isna(), "asked"].tolist()
    problems = [f"Kaupunkia {c} ei löytynyt THL Sotkanetin alueluettelosta ({category})." for c in missing]
    found = merged[merged["region_id"].notna()][["region_id", "city"]].reset_index(drop=True)
    return found, problems


def latest_values(
    rows: list[dict], region_ids: Iterable[int], years: Sequence[int], gender: str = GENDER
) -> pd.DataFrame:
    """Per region, the value of the latest of `years` that has one: `region_id`, `year`, `value`."""
    df = pd.DataFrame(rows).reindex(columns=["region", "year", "gender", "value"])
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    df["year"] = pd.to_numeric(df["year"], errors="coerce")
    keep = (
        df["region"].isin(list(region_ids))
        & df["year"].isin(list(years))
        & df["gender"].fillna(gender).eq(gender)
        & df["value"].notna()
    )
    latest = df[keep].sort_values("year", ascending=False).drop_duplicates("region")
    return pd.DataFrame(
        {
            "region_id": latest["region"].astype("Int64"),
            "year": latest["year"].astype("Int64"),
            "value": latest["value"].astype("float64"),
        }
    ).reset_index(drop=True)


def indicator_title_unit(meta: dict, indicator_id: int) -> tuple[str, str]:
    """The Finnish title and the value type (e.g. *Prosenttia*) of `/indicators/{id}`."""
    title = (meta.get("title") or {}).get("fi") or f"Indikaattori {indicator_id}"
    unit = ((meta.get("primaryValueType") or {}).get("title") or {}).get("fi") or ""
    return title.strip(), unit.strip()


def year_problems(label: str, year: int, years: Sequence[int], cities: pd.DataFrame, found: pd.DataFrame) -> list[str]:
    """Finnish notes on cities that fell back to an earlier year or have no value at all."""
    problems = []
    merged = cities.merge(found, on="region_id", how="left")
    none = merged.loc[merged["year"].isna(), "city"].tolist()
    older = merged[merged["year"].notna() & (merged["year"] < year)]
    for used, group in older.sort_values("year", ascending=False).groupby("year", sort=False):
        who = "" if len(group) == len(cities) else f" ({', '.join(group['city'])})"
        problems.append(f"{label}: vuoden {year} tieto puuttuu, käytetty vuoden {int(used)} tietoa{who}.")
    if none:
        span = f"{min(years)}–{max(years)}"
        problems.append(f"{label}: ei arvoa vuosilta {span} ({', '.join(none)}).")
    return problems


def city_comparison(
    client: SotkanetClient, indicator_ids: Sequence[int], year: int, cities: Sequence[str] | None = None
) -> Comparison:
    """The indicators' values for the cities in `year`, or the latest of the two years before.

    One `/json` query per indicator asks for `year`, `year-1` and `year-2` together;
    each city gets the latest of them that has a value, and `year` in the frame says
    which. An unknown indicator (HTTP 404) is a problem, not a failure; an
    unreachable API raises `SotkanetUnavailable`.
    """
    cities = list(cities) if cities is not None else list(client.config.cities)
    category = client.config.region_category
    years = [year - k for k in range(FALLBACK_YEARS + 1)]
    matched, problems = match_cities(municipalities(client.regions(), category), cities, category)
    if matched.empty:
        return Comparison.empty(problems)
    frames = []
    for indicator_id in indicator_ids:
        try:
            meta = client.indicator(indicator_id)
        except SotkanetUnavailable as exc:
            if exc.status == 404:
                problems.append(f"Indikaattoria {indicator_id} ei löydy THL Sotkanetista.")
                continue
            raise
        title, unit = indicator_title_unit(meta, indicator_id)
        found = latest_values(client.data(indicator_id, years), matched["region_id"], years)
        problems += year_problems(f"{title} ({indicator_id})", year, years, matched, found)
        rows = matched.merge(found, on="region_id", how="inner")
        frames.append(rows.assign(indicator_id=indicator_id, indicator=title, unit=unit))
    frame = pd.concat(frames, ignore_index=True)[COLUMNS].astype(_DTYPES) if frames else empty_frame()
    return Comparison(frame, problems)


def missing_message(exc: SotkanetUnavailable) -> str:
    return f"Vertailutieto suurimpiin kaupunkeihin puuttuu: THL Sotkanet ei vastannut ({exc.host}: {exc.reason})."


def sotkanet_comparison(
    year: int,
    indicator_ids: Sequence[int] | None = None,
    cache_dir: Path | None = None,
    cities: Sequence[str] | None = None,
    config: SotkanetSettings | None = None,
) -> Comparison:
    """Comparison with the largest cities; an unreachable API gives an empty one that says so.

    Retries belong to the client, so the task itself is not retried.
    """
    config = config or sotkanet_settings()
    ids = list(indicator_ids) if indicator_ids is not None else list(config.indicators)
    try:
        with SotkanetClient(config, cache_dir) as client:
            comparison = city_comparison(client, ids, year, cities)
            comparison.as_of = client.stale_since
            return comparison
    except SotkanetUnavailable as exc:
        return Comparison.empty([missing_message(exc)])


# --- recordings for the tests ----------------------------------------------------------

INDEX = "index.json"


def trim_regions(regions: list[dict], keep_ids: set[int]) -> list[dict]:
    """The kept regions, the regions they belong to, and the whole country."""
    by_id = {r.get("id"): r for r in regions}
    parents = {p for i in keep_ids for p in (by_id.get(i) or {}).get("memberOf") or []}
    wanted = keep_ids | parents
    return [r for r in regions if r.get("id") in wanted or r.get("category") == "MAA"]


def record(
    out: Path,
    indicator_ids: Sequence[int],
    year: int,
    cities: Sequence[str] | None = None,
    config: SotkanetSettings | None = None,
    full: bool = False,
) -> list[dict]:
    """Fetch the queries `city_comparison` makes and store each answer under `out`.

    Unless `full`, answers are trimmed to the cities, the regions they belong to and
    the whole country, so the recordings stay small. `index.json` maps each query
    (path + parameters) to its file; entries of earlier runs are kept.
    """
    config = config or sotkanet_settings()
    cities = list(cities) if cities is not None else list(config.cities)
    years = [year - k for k in range(FALLBACK_YEARS + 1)]
    with SotkanetClient(config) as client:
        regions = client.regions()
        matched, _ = match_cities(municipalities(regions, config.region_category), cities, config.region_category)
        keep = {int(i) for i in matched["region_id"]}
        kept_regions = regions if full else trim_regions(regions, keep)
        kept_ids = {r.get("id") for r in kept_regions}
        answers: list[tuple[str, Params, Any, str]] = [(PATH_REGIONS, [], kept_regions, "regions.json")]
        for iid in indicator_ids:
            answers.append((f"{PATH_INDICATORS}/{iid}", [], client.indicator(iid), f"indicators_{iid}.json"))
            rows = client.data(iid, years)
            rows = rows if full else [r for r in rows if r.get("region") in kept_ids]
            answers.append((PATH_DATA, data_params(iid, years), rows, f"json_{iid}_{min(years)}-{max(years)}.json"))
    # Nothing is written unless every answer arrived.
    out.mkdir(parents=True, exist_ok=True)
    index_path = out / INDEX
    index = json.loads(index_path.read_text(encoding="utf-8")) if index_path.exists() else []
    for path, params, body, name in answers:
        (out / name).write_text(json.dumps(body, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        index = [e for e in index if not (e["path"] == path and sorted(map(tuple, e["query"])) == sorted(params))]
        index.append({"path": path, "query": [list(p) for p in params], "file": name})
    index_path.write_text(json.dumps(index, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return index


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tasks.goals.sotkanet", description="THL Sotkanet -tallenteet testeille"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="hae oikeat vastaukset ja tallenna ne testien toistettaviksi")
    rec.add_argument("--out", type=Path, default=Path("tests/recordings/sotkanet"))
    rec.add_argument(
        "--indicator", type=int, action="append", required=True, help="Sotkanet-indikaattorin tunnus (voi toistaa)"
    )
    rec.add_argument("--year", type=int, required=True)
    rec.add_argument("--city", action="append", help="kaupunki (oletus: asetusten kaupungit; voi toistaa)")
    rec.add_argument("--full", action="store_true", help="älä karsi vastauksia vertailun alueisiin")
    args = parser.parse_args(argv)
    try:
        index = record(args.out, args.indicator, args.year, args.city, full=args.full)
    except SotkanetUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{len(index)} tallennetta: {args.out / INDEX}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
