"""The Sotkanet client against recorded responses replayed by a real HTTP server on loopback.

Only the public internet is replaced: the client speaks HTTP to a
`ThreadingHTTPServer` that answers from `tests/recordings/sotkanet/` and counts
every request. Faults (5xx, slow answers, broken JSON) are scripted per path.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tasks.goals import sotkanet as sk
from tests.sotkanet_replay import PREFIX, RECORDINGS, Replay, canon, make_handler, start_replay  # noqa: F401

SIX = ["Helsinki", "Espoo", "Tampere", "Vantaa", "Oulu", "Turku"]


@pytest.fixture
def replay_at():
    """Start a replay server for a recordings folder; returns (replay, base URL)."""
    servers = []

    def start(folder: Path = RECORDINGS):
        replay, server, url = start_replay(folder)
        servers.append(server)
        return replay, url

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture
def replay(replay_at):
    return replay_at()


def config(base_url: str, **kw) -> sk.SotkanetSettings:
    """Test settings: the declared ones with the replay server's URL and tiny waits."""
    return sk.sotkanet_settings(
        **{"base_url": base_url, "timeout_seconds": 2, "retries": 2, "backoff_seconds": 0.001, **kw}
    )


@pytest.fixture
def client(replay):
    _, url = replay
    with sk.SotkanetClient(config(url)) as c:
        yield c


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{PREFIX}"


# --- configuration ---------------------------------------------------------------------


def test_settings_are_declared_once_and_the_environment_overrides_the_url(monkeypatch):
    monkeypatch.delenv(sk.ENV_URL, raising=False)
    declared = sk.sotkanet_settings()
    assert declared.base_url == "https://sotkanet.fi/rest/1.1"
    assert declared.cities == tuple(SIX)
    assert declared.region_category == "KUNTA"
    monkeypatch.setenv(sk.ENV_URL, "http://mirror.example/rest/1.1/")
    assert sk.sotkanet_settings().base_url == "http://mirror.example/rest/1.1"
    # An explicit argument is more specific than the environment.
    assert sk.sotkanet_settings(base_url="http://other.example").base_url == "http://other.example"


# --- regions and values ----------------------------------------------------------------


def test_cities_are_mapped_through_regions_by_finnish_title(client, replay):
    srv, _ = replay
    munis = sk.municipalities(client.regions(), "KUNTA")
    matched, problems = sk.match_cities(munis, ["helsinki ", "Vantaa", "Atlantis"], "KUNTA")
    assert problems == ["Kaupunkia Atlantis ei löytynyt THL Sotkanetin alueluettelosta (KUNTA)."]
    # Ids come from /regions; Helsinki's wellbeing services county (960) is not a municipality.
    assert matched.to_dict("records") == [{"region_id": 199, "city": "Helsinki"}, {"region_id": 404, "city": "Vantaa"}]
    assert set(munis["code"]) == {"091", "049", "837", "092", "564", "853", "245"}
    assert "Helsingin kaupunki" not in set(munis["city"])
    assert srv.count("/regions") == 1


def test_values_for_the_six_largest_cities(client):
    cmp = sk.city_comparison(client, [1552], 2024)
    assert cmp.problems == []
    df = cmp.frame
    assert list(df.columns) == sk.COLUMNS
    assert df["city"].tolist() == SIX
    assert df.set_index("city")["value"].to_dict() == {
        "Helsinki": 1187.3,
        "Espoo": 1062.1,
        "Tampere": 1351.7,
        "Vantaa": 1140.8,
        "Oulu": 1447.5,
        "Turku": 1302.6,
    }
    # Vantaa's value is the municipality's, not that of the Vantaa and Kerava county (1147.2).
    assert df.set_index("city").loc["Vantaa", "region_id"] == 404
    assert set(df["year"]) == {2024}
    assert set(df["indicator"]) == {"Perusterveydenhuollon avohoidon kaikki lääkärikäynnit / 1 000 asukasta"}
    assert set(df["unit"]) == {"Tuhatta asukasta kohden"}
    assert set(df["indicator_id"]) == {1552}


def test_only_the_municipality_category_is_matched():
    regions = [
        {"id": 956, "category": "HYVINVOINTIALUE", "code": "91", "title": {"fi": "Ahvenanmaa"}},
        {"id": 501, "category": "MAAKUNTA", "code": "21", "title": {"fi": "Ahvenanmaa"}},
        {"id": 88, "category": "KUNTA", "code": "478", "title": {"fi": "Maarianhamina", "sv": "Mariehamn"}},
    ]
    matched, problems = sk.match_cities(sk.municipalities(regions, "KUNTA"), ["Ahvenanmaa", "Maarianhamina"], "KUNTA")
    assert matched.to_dict("records") == [{"region_id": 88, "city": "Maarianhamina"}]
    assert problems == ["Kaupunkia Ahvenanmaa ei löytynyt THL Sotkanetin alueluettelosta (KUNTA)."]


def test_a_row_without_a_value_does_not_hide_an_earlier_year():
    rows = [
        {"indicator": 191, "region": 1, "year": 2024, "gender": "male", "value": 9.9},
        {"indicator": 191, "region": 1, "year": 2024, "gender": "total"},
        {"indicator": 191, "region": 1, "year": 2023, "gender": "total", "value": 1.2, "absValue": 10},
        {"indicator": 191, "region": 2, "year": 2024, "gender": "total", "value": None},
        {"indicator": 191, "region": 3, "year": 2024, "gender": "total", "value": 0.5},
    ]
    got = sk.latest_values(rows, [1, 2], [2024, 2023, 2022])
    assert got.to_dict("records") == [{"region_id": 1, "year": 2023, "value": 1.2}]


def test_indicator_list(client):
    titles = {i["id"]: i["title"]["fi"] for i in client.indicators()}
    assert titles[191].startswith("Kodin ulkopuolelle sijoitetut 0 - 17-vuotiaat")
    assert set(titles) == {5, 191, 1552}


def test_year_fallback_uses_the_latest_year_with_data_and_says_so(client, replay):
    srv, _ = replay
    cmp = sk.city_comparison(client, [191], 2024)
    years = cmp.frame.set_index("city")["year"].to_dict()
    assert years == {"Helsinki": 2023, "Espoo": 2023, "Tampere": 2023, "Vantaa": 2023, "Oulu": 2022, "Turku": 2023}
    assert cmp.frame.set_index("city").loc["Oulu", "value"] == 1.3
    assert set(cmp.frame["unit"]) == {"Prosenttia"}
    label = "Kodin ulkopuolelle sijoitetut 0 - 17-vuotiaat, % vastaavanikäisestä väestöstä (THL) (191)"
    assert cmp.problems == [
        f"{label}: vuoden 2024 tieto puuttuu, käytetty vuoden 2023 tietoa (Helsinki, Espoo, Tampere, Vantaa, Turku).",
        f"{label}: vuoden 2024 tieto puuttuu, käytetty vuoden 2022 tietoa (Oulu).",
    ]
    # The three years are asked in one query.
    assert srv.count("/json") == 1
    assert dict(srv.log[-1][1]).get("indicator") == "191"
    assert sorted(v for k, v in srv.log[-1][1] if k == "years") == ["2022", "2023", "2024"]


def test_a_common_fallback_year_is_said_once_without_listing_cities(client):
    cmp = sk.city_comparison(client, [191], 2024, cities=["Helsinki", "Espoo"])
    assert cmp.frame["year"].tolist() == [2023, 2023]
    assert cmp.problems == [
        "Kodin ulkopuolelle sijoitetut 0 - 17-vuotiaat, % vastaavanikäisestä väestöstä (THL) (191): "
        "vuoden 2024 tieto puuttuu, käytetty vuoden 2023 tietoa."
    ]


def test_no_value_in_any_of_the_years_is_a_problem_not_a_row(client):
    cmp = sk.city_comparison(client, [1552], 2030, cities=["Helsinki", "Oulu"])
    assert cmp.frame.empty
    assert cmp.problems == [
        "Perusterveydenhuollon avohoidon kaikki lääkärikäynnit / 1 000 asukasta (1552): ei arvoa vuosilta "
        "2028–2030 (Helsinki, Oulu)."
    ]


def test_unknown_city_and_unknown_indicator_are_problems(client, replay):
    srv, _ = replay
    cmp = sk.city_comparison(client, [999999, 1552], 2024, cities=["Helsinki", "Atlantis"])
    assert cmp.frame["city"].tolist() == ["Helsinki"]
    assert cmp.problems == [
        "Kaupunkia Atlantis ei löytynyt THL Sotkanetin alueluettelosta (KUNTA).",
        "Indikaattoria 999999 ei löydy THL Sotkanetista.",
    ]
    # A 404 is not retried.
    assert srv.count("/indicators/999999") == 1


# --- cache -----------------------------------------------------------------------------


def test_the_same_query_is_asked_once(replay, tmp_path):
    srv, url = replay
    cache = tmp_path / "cache"
    with sk.SotkanetClient(config(url), cache) as c:
        first = c.data(1552, [2024, 2023, 2022])
        assert c.data(1552, [2024, 2023, 2022]) == first
    assert srv.count("/json") == 1
    # A new client (the next run) reads the cache folder instead of asking.
    with sk.SotkanetClient(config(url), cache) as c:
        # The years in another order are the same query.
        assert c.data(1552, [2022, 2023, 2024]) == first
    assert srv.count("/json") == 1
    files = list(cache.glob("*.json"))
    assert len(files) == 1 and len(files[0].stem) == 64
    entry = json.loads(files[0].read_text(encoding="utf-8"))
    assert entry["url"] == url + "/json" and entry["body"] == first


def test_cache_key_ignores_parameter_order_but_not_values():
    a = sk.cache_key("GET", "http://x/json", [("indicator", "1"), ("years", "2024"), ("years", "2023")])
    b = sk.cache_key("get", "http://x/json", [("years", "2023"), ("indicator", "1"), ("years", "2024")])
    c = sk.cache_key("GET", "http://x/json", [("indicator", "1"), ("years", "2024")])
    assert a == b != c


def test_a_damaged_cache_file_is_asked_again_and_repaired(replay, tmp_path):
    srv, url = replay
    with sk.SotkanetClient(config(url), tmp_path) as c:
        expected = c.regions()
    (entry,) = tmp_path.glob("*.json")
    entry.write_text('{"body": [', encoding="utf-8")
    with sk.SotkanetClient(config(url), tmp_path) as c:
        assert c.regions() == expected
    assert srv.count("/regions") == 2
    assert json.loads(entry.read_text(encoding="utf-8"))["body"] == expected


def test_an_old_cache_entry_is_asked_again(replay, tmp_path):
    srv, url = replay
    with sk.SotkanetClient(config(url, cache_max_age_hours=1), tmp_path) as c:
        c.regions()
    (entry,) = tmp_path.glob("*.json")
    two_hours_ago = time.time() - 7200
    os.utime(entry, (two_hours_ago, two_hours_ago))
    with sk.SotkanetClient(config(url, cache_max_age_hours=1), tmp_path) as c:
        c.regions()
    assert srv.count("/regions") == 2


def test_an_old_cache_entry_stands_in_when_the_service_is_down_and_says_its_day(replay, tmp_path):
    srv, url = replay
    settings = config(url, cache_max_age_hours=1, indicators=[1552])
    fresh = sk.sotkanet_comparison(2024, cache_dir=tmp_path, config=settings)
    assert fresh.available and fresh.as_of is None  # answered today: nothing to label
    two_days_ago = time.time() - 2 * 86400
    for entry in tmp_path.glob("*.json"):
        stored = json.loads(entry.read_text(encoding="utf-8"))
        stored["fetched_at"] = "2024-09-02T06:00:00+00:00"
        entry.write_text(json.dumps(stored), encoding="utf-8")
        os.utime(entry, (two_days_ago, two_days_ago))
    srv.fail("/regions", *[("status", 503)] * 3)
    stale = sk.sotkanet_comparison(
        2024, cache_dir=tmp_path, config=config(url, cache_max_age_hours=1, indicators=[1552], retries=0)
    )
    assert stale.available
    assert stale.frame.equals(fresh.frame)
    assert stale.as_of == sk.dt.date(2024, 9, 2)
    # A refusal is not an outage: an indicator the service says is gone is not answered from the cache.
    for entry in tmp_path.glob("*.json"):
        os.utime(entry, (two_days_ago, two_days_ago))
    srv.fail("/indicators/1552", ("status", 404))
    with sk.SotkanetClient(config(url, cache_max_age_hours=1), tmp_path) as c:
        with pytest.raises(sk.SotkanetUnavailable):
            c.indicator(1552)


def test_without_any_cached_answer_an_outage_still_leaves_the_comparison_empty(tmp_path):
    cmp = sk.sotkanet_comparison(2024, [1552], cache_dir=tmp_path, config=config(closed_port_url(), retries=0))
    assert not cmp.available and cmp.as_of is None


# --- failures --------------------------------------------------------------------------


def test_503_is_retried_with_backoff_then_succeeds(replay):
    srv, url = replay
    srv.fail("/regions", ("status", 503), ("status", 429))
    waits = []
    with sk.SotkanetClient(config(url, retries=3, backoff_seconds=0.01), sleep=waits.append) as c:
        regions = c.regions()
    assert any(r["title"]["fi"] == "Helsinki" for r in regions)
    assert srv.count("/regions") == 3
    assert waits == [0.01, 0.02]  # exponential


def test_timeout_ends_in_unavailable_after_the_configured_retries(replay):
    srv, url = replay
    srv.fail("/regions", ("sleep", 1.0), ("sleep", 1.0), ("sleep", 1.0))
    waits = []
    with sk.SotkanetClient(config(url, timeout_seconds=0.2, retries=2, backoff_seconds=0.001), sleep=waits.append) as c:
        with pytest.raises(sk.SotkanetUnavailable) as err:
            c.regions()
    assert srv.count("/regions") == 3
    assert waits == [0.001, 0.002]
    assert err.value.host.startswith("127.0.0.1:")
    assert (
        str(err.value) == f"Tietoa ei saatu THL Sotkanetista ({err.value.host}): "
        "aikakatkaisu, ei vastausta 0,2 sekunnissa (3 yritystä)"
    )
    assert "Traceback" not in str(err.value)


def test_malformed_json_is_not_retried_nor_cached(replay, tmp_path):
    srv, url = replay
    srv.fail("/json", ("body", '[{"indicator": 1552, "region": 199, "year": '))
    with sk.SotkanetClient(config(url), tmp_path) as c:
        with pytest.raises(sk.SotkanetUnavailable, match="vastaus ei ollut kelvollista JSONia"):
            c.data(1552, [2024, 2023, 2022])
        # Nothing bad was kept: the next ask goes to the server and gets the recording.
        assert len(c.data(1552, [2024, 2023, 2022])) == 30
    assert srv.count("/json") == 2
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_404_is_not_retried(replay):
    srv, url = replay
    with sk.SotkanetClient(config(url, retries=3)) as c:
        with pytest.raises(sk.SotkanetUnavailable) as err:
            c.indicator(424242)
    assert err.value.status == 404
    assert "HTTP 404" in err.value.reason
    assert srv.count("/indicators/424242") == 1


def test_unexpected_shape_is_refused(replay):
    srv, url = replay
    srv.fail("/regions", ("body", '{"message": "maintenance"}'))
    with sk.SotkanetClient(config(url)) as c:
        with pytest.raises(sk.SotkanetUnavailable, match="odotetun muotoinen"):
            c.regions()


def test_the_comparison_is_empty_and_says_so_when_the_api_is_down():
    url = closed_port_url()
    cmp = sk.sotkanet_comparison(2024, [1552], config=config(url, retries=1))
    assert cmp.frame.empty and list(cmp.frame.columns) == sk.COLUMNS
    assert not cmp.available
    assert cmp.problems == [
        f"Vertailutieto suurimpiin kaupunkeihin puuttuu: THL Sotkanet ei vastannut "
        f"({urlsplit(url).netloc}: yhteyttä palvelimeen ei saatu)."
    ]


def test_a_dead_network_is_given_up_at_once_not_retried():
    """Nothing listens (or the name does not resolve): no retry ladder, the report does not wait for it."""
    waits: list[float] = []
    with sk.SotkanetClient(config(closed_port_url(), retries=5, backoff_seconds=1.0), sleep=waits.append) as c:
        with pytest.raises(sk.SotkanetUnavailable, match="yhteyttä palvelimeen ei saatu"):
            c.regions()
    assert waits == []


def test_the_comparison_passes_through(replay, tmp_path):
    _, url = replay
    cmp = sk.sotkanet_comparison(2024, cache_dir=tmp_path / "c", config=config(url, indicators=[1552]))
    assert cmp.available and cmp.frame["city"].tolist() == SIX
    assert len(list((tmp_path / "c").glob("*.json"))) == 3  # regions, metadata, values


# --- the recorder ----------------------------------------------------------------------


def test_recorder_round_trip(replay, replay_at, tmp_path):
    """Recording from a server and replaying the result gives the same comparison."""
    _, url = replay
    out = tmp_path / "rec"
    index = sk.record(out, [1552], 2024, config=config(url))
    assert {e["file"] for e in index} == {"regions.json", "indicators_1552.json", "json_1552_2022-2024.json"}
    regions = json.loads((out / "regions.json").read_text(encoding="utf-8"))
    # Trimmed to the cities, the regions they belong to and the whole country: Kerava is gone.
    assert "Kerava" not in {r["title"]["fi"] for r in regions} and any(r["category"] == "MAA" for r in regions)
    _, url2 = replay_at(out)
    with sk.SotkanetClient(config(url)) as a, sk.SotkanetClient(config(url2)) as b:
        expected = sk.city_comparison(a, [1552], 2024).frame
        got = sk.city_comparison(b, [1552], 2024).frame
    assert got.equals(expected)
