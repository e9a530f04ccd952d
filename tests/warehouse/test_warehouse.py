import dataclasses
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import func, inspect, select

from tasks.ingest import partwise
from tasks.ingest.extract import Extract
from tasks.ingest.files import FileInfo
from tasks.ingest.period import Extracted
from tasks.ingest.quality import SourceStatus, Validated, source_statuses
from tasks.ingest.rows import Rows
from tasks.warehouse import engine as wh_engine
from tasks.warehouse import history as wh_history
from tasks.warehouse import load as wh_load
from tasks.warehouse import locks as wh_locks
from tasks.warehouse import models as wh_models
from tasks.warehouse import read as wh_read


def ledger_rows(n, amount=100):
    return pd.DataFrame(
        {
            "year": 2024,
            "month": 8,
            "area": "Pelastuslaitos",
            "service": "Riskienhallinta",
            "cost_centre": [f"1402{i:03d}" for i in range(n)],
            "account": "4000",
            "account_name": "Palkat",
            "line": "Menot",
            "amount_cents": amount,
            "_line": range(2, n + 2),
            "_file": "x.csv",
        }
    )


def count(engine, period=None):
    """The ledger's rows the warehouse holds (of one period), wherever its batches keep them."""
    with engine.connect() as c:
        q = select(wh_models.LoadBatch.id).where(wh_models.LoadBatch.source == "ledger")
        ids = c.execute(q.where(wh_models.LoadBatch.period == period) if period else q).scalars().all()
    return len(wh_read.read_facts(engine, "ledger", ids))


@pytest.fixture(params=["rows", "columns"])
def kept_as(request, monkeypatch):
    """The sources kept as the contract says (the ledger and the event sources as blocks), or every one as table
    rows (as batches loaded before blocks, and the small sources)."""
    from tasks.contracts import sources

    if request.param == "rows":
        for sid, src in sources().items():
            monkeypatch.setitem(sources(), sid, dataclasses.replace(src, columnar=False))
    return request.param


def test_migrations_create_the_schema(engine):
    tables = set(inspect(engine).get_table_names())
    assert {"load_batch", "ledger_actual", "result_budget", "council_budget", "alembic_version"} <= tables


def test_rerun_replaces_the_period_never_duplicates(engine, kept_as):
    wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "a" * 64, ledger_rows(5), "run1")
    wh_load.load_period(engine, "ledger", "2024-07", "y.csv", "c" * 64, ledger_rows(2), "run1")
    b = wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "b" * 64, ledger_rows(3, 7), "run2")
    assert count(engine, "2024-08") == 3 and count(engine, "2024-07") == 2
    monthly, _ = wh_read.ledger_sums(engine, [b.id])
    assert monthly["cents"].tolist() == [21] and monthly["rows"].tolist() == [3]
    with engine.connect() as c:
        batches = c.execute(
            select(
                wh_models.LoadBatch.period,
                wh_models.LoadBatch.run_id,
                wh_models.LoadBatch.sha256,
                wh_models.LoadBatch.rows,
            ).order_by(wh_models.LoadBatch.period)
        ).all()
    assert [tuple(r) for r in batches] == [("2024-07", "run1", "c" * 64, 2), ("2024-08", "run2", "b" * 64, 3)]


def test_same_file_again_reuses_its_batch(engine, kept_as):
    first = wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "a" * 64, ledger_rows(4), "run1")
    again = wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "a" * 64, ledger_rows(4), "run2")
    assert again.reused and again.id == first.id and again.run_id == "run1"
    assert count(engine) == 4


def test_a_batch_keeps_the_key_it_was_validated_clean_under_and_a_reused_file_needs_its_batch(engine, kept_as):
    wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "a" * 64, ledger_rows(4), "run1", validation_key="k1")
    wh_load.load_period(engine, "ledger", "2024-07", "y.csv", "c" * 64, ledger_rows(2), "run1")  # warned: no key
    checked = wh_load.checked_files(engine)
    assert checked[["period", "file_name", "rows", "validation_key", "run_id"]].values.tolist() == [
        ["2024-08", "x.csv", 4, "k1", "run1"]
    ]
    # Not read again (no rows): the batch as it is.
    kept = wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "a" * 64, None, "run2")
    assert kept.reused and kept.run_id == "run1" and count(engine, "2024-08") == 4
    # Validated again, this time with a warning: the same batch, no longer reusable.
    wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "a" * 64, ledger_rows(4), "run3", validation_key=None)
    assert wh_load.checked_files(engine).empty
    # A reused file whose batch another run replaced meanwhile is not silently taken from other bytes.
    wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "b" * 64, ledger_rows(3), "run4")
    with pytest.raises(RuntimeError, match="Tiedoston x.csv aiemmin tarkistetut rivit poistuivat tietovarastosta"):
        wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "a" * 64, None, "run5")
    assert count(engine, "2024-08") == 3


def test_text_numbers_and_missing_values_survive_the_bulk_path_exactly(engine, kept_as):
    """PostgreSQL's COPY text is built column by column: tabs, line breaks, backslashes and quotes in text, an
    empty text and a missing one, whole numbers from a float column and floats all come back as they went in."""
    rows = ledger_rows(5)
    rows["account_name"] = ["sarkain\tja rivi\nvaihto", "kenoviiva \\N ja \\t", '"lainaus"; puoli', "", None]
    rows["line"] = pd.Series(["Menot", None, "", "Tulot", "\\"], dtype="string[pyarrow]")
    rows["amount_cents"] = [1.0, -250.0, 123456789012.0, 0.0, 7.0]  # whole cents in a float column
    b = wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "a" * 64, rows, "run1")
    back = wh_read.read_facts(engine, "ledger", [b.id]).sort_values("cost_centre")  # (the ledger keeps no lines)
    assert [None if pd.isna(v) else v for v in back["account_name"]] == [
        "sarkain\tja rivi\nvaihto",
        "kenoviiva \\N ja \\t",
        '"lainaus"; puoli',
        "",
        None,
    ]
    assert [None if pd.isna(v) else v for v in back["line"]] == ["Menot", None, "", "Tulot", "\\"]
    assert back["amount_cents"].tolist() == [1, -250, 123456789012, 0, 7]
    manual = pd.DataFrame(
        {
            "year": 2024,
            "month": 8,
            "indicator": ["a", "b"],
            "value": [0.1 + 0.2, 1e-9],
            "forecast": [None, 2.5],
            "note": [None, "huom"],
            "_line": [2, 3],
            "_file": "m.csv",
        }
    )
    manual = manual[[c for c in manual.columns if c in wh_load.fact_columns(wh_models.FACTS["manual"]) or c[0] == "_"]]
    b = wh_load.load_period(engine, "manual", "2024", "m.csv", "b" * 64, manual, "run1")
    back = wh_read.read_facts(engine, "manual", [b.id]).sort_values("source_line")
    assert back["value"].tolist() == [0.1 + 0.2, 1e-9]
    assert pd.isna(back["forecast"].iloc[0]) and back["forecast"].iloc[1] == 2.5


def test_copy_text_is_postgresqls_text_format_column_by_column():
    """Each kind of column as COPY reads it: whole numbers from a float column without a point, yes/no as t/f,
    date-times to the microsecond, the shortest float that reads back the same, text escaped, `\\N` for missing."""
    from sqlalchemy import BigInteger, Boolean, Column, DateTime, Float, MetaData, String, Table

    table = Table(
        "t",
        MetaData(),
        Column("n", BigInteger),
        Column("yes", Boolean),
        Column("at", DateTime),
        Column("x", Float),
        Column("s", String),
        Column("c", String),
    )
    rows = pd.DataFrame(
        {
            "n": [5.0, float("nan"), -250.0],
            "yes": pd.array([True, None, False], dtype="boolean"),
            "at": pd.to_datetime(["2024-08-03 14:22:05.123456789", None, "2024-08-31"], format="ISO8601"),
            "x": [0.1 + 0.2, None, 1e-9],
            "s": pd.Series(["sarkain\tja\nrivi", None, "keno\\viiva\r"], dtype="string[pyarrow]"),
            "c": pd.Categorical(["a", None, "a"]),
        }
    )
    lines = bytes(wh_load.copy_text(rows, table)).decode("utf-8").split("\n")
    assert lines == [
        "5\tt\t2024-08-03 14:22:05.123456\t0.30000000000000004\tsarkain\\tja\\nrivi\ta",
        "\\N\t\\N\t\\N\t\\N\t\\N\t\\N",
        "-250\tf\t2024-08-31 00:00:00.000000\t1e-9\tkeno\\\\viiva\\r\ta",
        "",
    ]
    assert float(lines[0].split("\t")[3]) == 0.1 + 0.2 and float(lines[2].split("\t")[3]) == 1e-9
    # A date-time with a zone is written as its wall-clock time, as a column without a zone keeps it.
    zoned = pd.DataFrame({"at": pd.to_datetime(["2024-08-03 14:22:05"]).tz_localize("Europe/Helsinki")})
    assert bytes(wh_load.copy_text(zoned, table)) == b"2024-08-03 14:22:05.000000\n"


def test_a_frame_longer_than_a_copy_chunk_arrives_whole_and_in_order(engine, monkeypatch):
    """COPY sends a chunk of rows at a time; the chunks' rows all arrive, in order, escapes intact at the seams."""
    from tasks.contracts import sources

    monkeypatch.setitem(sources(), "ledger", dataclasses.replace(sources()["ledger"], columnar=False))
    monkeypatch.setattr(wh_load, "COPY_CHUNK_ROWS", 2)
    rows = ledger_rows(7)
    rows["account_name"] = [f"rivi {i}\t\\" for i in range(7)]
    b = wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "a" * 64, rows, "run1")
    back = wh_read.read_facts(engine, "ledger", [b.id])
    assert back["cost_centre"].tolist() == rows["cost_centre"].tolist()
    assert back["account_name"].tolist() == rows["account_name"].tolist()


@pytest.mark.parametrize("copy_chunk_rows", [None, 2], ids=["one-copy", "copy-chunks"])
def test_failed_load_leaves_the_previous_period_intact(engine, kept_as, monkeypatch, copy_chunk_rows):
    """A bad last row undoes the whole batch, also when COPY sent the earlier rows in chunks before it."""
    if copy_chunk_rows is not None:
        monkeypatch.setattr(wh_load, "COPY_CHUNK_ROWS", copy_chunk_rows)
    wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "a" * 64, ledger_rows(5), "run1")
    broken = ledger_rows(5)
    broken.loc[4, "area"] = None  # NOT NULL violated on the last row (in the third chunk of two rows)
    with pytest.raises(Exception):  # noqa: B017  (each driver raises its own error)
        wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "b" * 64, broken, "run2")
    assert count(engine, "2024-08") == 5
    with engine.connect() as c:
        assert c.execute(select(wh_models.LoadBatch.run_id)).scalars().all() == ["run1"]


def test_area_totals_are_summed_in_sql(engine, kept_as):
    b = wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "a" * 64, ledger_rows(3, -250), "run1")
    totals = wh_read.ledger_area_totals(engine, [b.id])
    assert totals.to_dict("records") == [{"area": "Pelastuslaitos", "cents": -750}]
    by_batch = wh_read.ledger_totals_by_batch(engine, [b.id])
    assert by_batch.to_dict("records") == [{"file": "x.csv", "rows": 3, "cents": -750}]


def test_migrations_match_the_models(engine):
    """The Alembic revisions build exactly the schema the models declare, up to the newest revision."""
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(wh_engine.MIGRATIONS))
    with engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), wh_models.Base.metadata) == []
        assert (
            c.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
            == ScriptDirectory.from_config(cfg).get_current_head()
        )


def test_a_second_run_waits_for_the_period_lock_and_a_dead_runs_lock_expires(engine, tmp_path):
    import datetime as dt
    import threading
    import time

    url = engine.url.render_as_string(hide_password=False)
    order = []

    def holder():
        with wh_locks.period_lock(url, "2024-08-forecast", "run-a", poll=0.05):
            order.append("a in")
            time.sleep(0.6)
            order.append("a out")

    t = threading.Thread(target=holder)
    t.start()
    time.sleep(0.2)
    with wh_locks.period_lock(url, "2024-08-forecast", "run-b", poll=0.05):
        order.append("b in")
    t.join()
    assert order == ["a in", "a out", "b in"]  # never interleaved
    # Another period is not held up at all; a held period times out with a message naming the holder.
    assert wh_locks.try_lock(engine, "2024-07-forecast", "run-c", dt.timedelta(hours=1))
    with pytest.raises(wh_locks.LockTimeout, match="kausi 2024-07-forecast on toisen ajon \\(run-c\\) käsittelyssä"):
        with wh_locks.period_lock(url, "2024-07-forecast", "run-d", wait=dt.timedelta(seconds=0.3), poll=0.05):
            pass
    # A lock whose lease has run out (its run died) is taken over.
    assert wh_locks.try_lock(engine, "2024-06-forecast", "dead", dt.timedelta(seconds=-1))
    assert wh_locks.try_lock(engine, "2024-06-forecast", "alive", dt.timedelta(hours=1))
    assert wh_locks.lock_holder(engine, "2024-06-forecast") == "alive"


def test_validation_outcomes_are_kept_as_history(engine):
    common = dict(title="", status_fi="", files=[], files_text="", rows=0, missing=[], reason="")
    statuses = [
        SourceStatus(source="ledger", status="ok", checks=26, passed=26, warnings=[], errors=[], **common),
        SourceStatus(
            source="feedback",
            status="failed",
            checks=15,
            passed=14,
            warnings=["w"],
            errors=["sarakkeessa Avoin_palaute on henkilötunnus"],
            **common,
        ),
    ]
    wh_history.record_validation(engine, "run1", "2024-08", "forecast", statuses)
    wh_history.record_validation(
        engine, "run2", "2024-08", "forecast", [dataclasses.replace(statuses[1], status="ok", passed=15, errors=[])]
    )
    history = wh_history.validation_history(engine, "feedback")
    assert history[["run_id", "status", "passed", "failures", "warnings"]].values.tolist() == [
        ["run2", "ok", 15, 0, 1],
        ["run1", "failed", 14, 1, 1],
    ]
    assert len(wh_history.validation_history(engine)) == 3


def test_rows_come_back_as_they_were_loaded(engine, kept_as):
    """Dates, date-times (to the microsecond, a nanosecond's fraction cut as SQLAlchemy cuts it), missing text and
    reserved words as column names, through the bulk insert."""
    import datetime as dt

    rescue = pd.DataFrame(
        {
            "mission_id": ["PEL-1", "PEL-2"],
            "alarm_time": pd.to_datetime(
                ["2024-08-03 14:22:05.123456789", "2024-08-31 23:59:59"], format="ISO8601"
            ).as_unit("ns"),
            "risk_class": pd.Series(["I", "IV"], dtype="string[pyarrow]"),
            "response_s": pd.array([300, 1201], dtype="Int64"),
            "year": 2024,
            "month": 8,
            "_line": [2, 3],
            "_file": "p.csv",
        }
    )
    b = wh_load.load_period(engine, "rescue", "2024-08", "p.csv", "a" * 64, rescue, "run1")
    back = wh_read.read_facts(engine, "rescue", [b.id])
    assert back["alarm_time"].tolist() == [
        dt.datetime(2024, 8, 3, 14, 22, 5, 123456),
        dt.datetime(2024, 8, 31, 23, 59, 59),
    ]
    assert back[["mission_id", "risk_class", "response_s", "source_line"]].values.tolist() == [
        ["PEL-1", "I", 300, 2],
        ["PEL-2", "IV", 1201, 3],
    ]
    # A date-time with a zone comes back as its wall-clock time, as a column without a zone keeps it.
    zoned = rescue.assign(alarm_time=rescue["alarm_time"].dt.tz_localize("Europe/Helsinki"))
    b = wh_load.load_period(engine, "rescue", "2024-09", "z.csv", "z" * 64, zoned, "run1")
    assert wh_read.read_facts(engine, "rescue", [b.id])["alarm_time"].tolist() == [
        dt.datetime(2024, 8, 3, 14, 22, 5, 123456),
        dt.datetime(2024, 8, 31, 23, 59, 59),
    ]
    feedback = pd.DataFrame(
        {
            "answer_id": ["A1", "A2"],
            "answer_date": pd.to_datetime(["2024-08-01", "2024-08-02"]),
            "area": "Pelastuslaitos",
            "score": pd.array([10, None], dtype="Int64"),
            "comment": pd.Series(["Hyvä palvelu; kiitos", None], dtype="string[pyarrow]"),
            "year": 2024,
            "month": 8,
            "_line": [2, 3],
            "_file": "f.csv",
        }
    )
    with pytest.raises(Exception):  # noqa: B017  (score is required: each driver refuses the NULL its own way)
        wh_load.load_period(engine, "feedback", "2024-08", "f.csv", "b" * 64, feedback, "run1")
    feedback["score"] = pd.array([10, 0], dtype="Int64")
    b = wh_load.load_period(engine, "feedback", "2024-08", "f.csv", "b" * 64, feedback, "run1")
    back = wh_read.read_facts(engine, "feedback", [b.id])
    assert back["answer_date"].tolist() == [dt.date(2024, 8, 1), dt.date(2024, 8, 2)]
    assert back["score"].tolist() == [10, 0]
    # Free text no report uses is checked for personal data and never stored (`store: none`).
    assert "comment" not in back.columns
    homeless = pd.DataFrame(
        {"year": [2023], "group": ["Yksin elävät asunnottomat"], "count": [724], "_line": [2], "_file": "h.csv"}
    )
    b = wh_load.load_period(engine, "homelessness", "2023", "h.csv", "c" * 64, homeless, "run1")
    assert wh_read.read_facts(engine, "homelessness", [b.id])[["group", "count"]].values.tolist() == [
        ["Yksin elävät asunnottomat", 724]
    ]


def january_and_february_reused(engine, now: pd.DataFrame) -> tuple[wh_load.Batch, wh_load.Batch, Extracted]:
    """Three rows each of the ledger's January and February, loaded and now reused, beside `now`: March's file,
    read now."""
    jan = ledger_rows(3).assign(month=1, _file="t_202401.csv")
    feb = ledger_rows(3).assign(month=2, _file="t_202402.csv")
    b1 = wh_load.load_period(engine, "ledger", "2024-01", "t_202401.csv", "s1", jan, "r1", validation_key="k")
    b2 = wh_load.load_period(engine, "ledger", "2024-02", "t_202402.csv", "s2", feb, "r1", validation_key="k")
    files = [
        FileInfo("t_202401.csv", "", "s1", 3, "2024-01", reused_batch=b1.id),
        FileInfo("t_202402.csv", "", "s2", 3, "2024-02", reused_batch=b2.id),
        FileInfo("t_202403.csv", "", "s3", len(now), "2024-03"),
    ]
    return b1, b2, Extracted({"ledger": Extract("ledger", now, files)}, pd.DataFrame())


def test_reused_keys_are_only_the_reused_rows_that_share_a_key_with_the_rows_read_now(engine, kept_as):
    # Two earlier months of the ledger, loaded and now reused; a third month read now repeats one key of the first
    # (and names a cost centre the second has, in another month: no repeat, the key is the whole row's).
    now = ledger_rows(2).assign(month=[3, 1], cost_centre=["1402001", "1402002"], _file="t_202403.csv")
    _, _, extracted = january_and_february_reused(engine, now)
    files = extracted.sources["ledger"].files

    keys = wh_load.reused_keys(engine, extracted)

    assert keys["ledger"][["year", "month", "cost_centre", "account", "_file"]].to_dict("records") == [
        {"year": 2024, "month": 1, "cost_centre": "1402002", "account": "4000", "_file": "t_202401.csv"}
    ]
    # Nothing read now, or nothing reused: nothing to compare.
    assert (
        wh_load.reused_keys(engine, Extracted({"ledger": Extract("ledger", now.iloc[:0], files)}, pd.DataFrame())) == {}
    )
    # Its temporary table was dropped: a second call makes it again.
    assert len(wh_load.reused_keys(engine, extracted)["ledger"]) == 1


def test_new_keys_are_compared_only_with_the_batches_whose_key_ranges_they_meet(engine, kept_as):
    """Each batch keeps the range of each unique-key column of its rows; new keys are joined only with the reused
    batches whose ranges they meet in every column. A batch kept before the ranges were (NULL) is always compared."""
    now = ledger_rows(1).assign(month=1, cost_centre="1402002", _file="t_202403.csv")  # repeats January's last key
    b1, _, extracted = january_and_february_reused(engine, now)
    lb = wh_models.LoadBatch
    with engine.connect() as c:
        kept = json.loads(c.execute(select(lb.key_ranges).where(lb.id == b1.id)).scalar_one())
    assert kept == {
        "account": ["4000", "4000"],
        "cost_centre": ["1402000", "1402002"],
        "month": [1, 1],
        "year": [2024, 2024],
    }

    def found() -> list[str]:
        return wh_load.reused_keys(engine, extracted)["ledger"]["_file"].tolist()

    assert found() == ["t_202401.csv"]
    # The ranges decide: January's rows claimed to be February's are not compared at all.
    with engine.begin() as c:
        c.execute(lb.__table__.update().where(lb.id == b1.id).values(key_ranges=json.dumps({**kept, "month": [2, 2]})))
    assert found() == []
    # A batch without ranges is compared.
    with engine.begin() as c:
        c.execute(lb.__table__.update().where(lb.id == b1.id).values(key_ranges=None))
    assert found() == ["t_202401.csv"]


LEDGER_KEY = ["year", "month", "cost_centre", "account"]


def kept_key_hashes(engine, batch_id: int) -> dict:
    t = wh_models.BatchKeyHashes
    with engine.connect() as c:
        return {
            k: (scheme, h)
            for k, scheme, h in c.execute(select(t.key, t.scheme, t.hashes).where(t.batch_id == batch_id))
        }


def test_a_batch_keeps_its_key_hashes_where_its_key_ranges_meet_another_batchs(engine):
    """The first batch of a source keeps its key hashes (sorted, each once); a batch whose key ranges keep apart from
    every other batch's (ids that run on) keeps none; one whose ranges meet another's does. Gone with the batch."""
    jan = ledger_rows(3).assign(month=1, _file="t_202401.csv")
    b1 = wh_load.load_period(engine, "ledger", "2024-01", "t_202401.csv", "s1", jan, "r1", validation_key="k")
    kept = kept_key_hashes(engine, b1.id)
    assert list(kept) == [json.dumps(LEDGER_KEY)]
    scheme, blob = kept[json.dumps(LEDGER_KEY)]
    assert scheme == partwise.hash_scheme(jan[LEDGER_KEY])
    assert np.frombuffer(blob, dtype="<u8").tolist() == sorted(partwise.key_hashes(jan[LEDGER_KEY]).tolist())
    feb = ledger_rows(3).assign(month=2, _file="t_202402.csv")
    b2 = wh_load.load_period(engine, "ledger", "2024-02", "t_202402.csv", "s2", feb, "r1", validation_key="k")
    assert kept_key_hashes(engine, b2.id) == {}
    mar = ledger_rows(4).assign(month=[3, 3, 1, 1], _file="t_202403.csv")  # two rows claim January
    b3 = wh_load.load_period(engine, "ledger", "2024-03", "t_202403.csv", "s3", mar, "r1", validation_key="k")
    assert len(np.frombuffer(kept_key_hashes(engine, b3.id)[json.dumps(LEDGER_KEY)][1], dtype="<u8")) == 4
    # Corrected to March's own rows (ranges apart again): the replaced batch's hashes went with it.
    wh_load.load_period(engine, "ledger", "2024-03", "t_202403.csv", "s3b", mar.iloc[:2], "r2")
    with engine.connect() as c:
        assert c.execute(select(wh_models.BatchKeyHashes.batch_id)).scalars().all() == [b1.id]


def test_kept_key_hashes_decide_which_reused_batches_are_asked_and_about_which_keys(engine, kept_as):
    """New keys are compared with a batch's kept hashes in memory; the database is asked only about the keys found
    there. Hashes of another scheme are not compared: the batch is joined with every new key, as one without."""
    now = ledger_rows(2).assign(month=1, cost_centre=["1402002", "1402009"], _file="t_202403.csv")
    b1, _, extracted = january_and_february_reused(engine, now)

    def found() -> list[list]:
        keys = wh_load.reused_keys(engine, extracted)["ledger"]
        return keys[["cost_centre", "_file"]].values.tolist()

    assert found() == [["1402002", "t_202401.csv"]]
    t = wh_models.BatchKeyHashes.__table__
    with engine.begin() as c:  # January's hashes, as if it held none of the new keys: it is not asked
        c.execute(t.update().where(t.c.batch_id == b1.id).values(hashes=np.array([], dtype="<u8").tobytes()))
    assert found() == []
    with engine.begin() as c:  # hashes made another way: joined with every new key
        c.execute(t.update().where(t.c.batch_id == b1.id).values(scheme="pandas 0.0: object"))
    assert found() == [["1402002", "t_202401.csv"]]
    scheme = partwise.hash_scheme(now[LEDGER_KEY])
    one = np.array([7], dtype="<u8").tobytes()
    for damaged in (one[:5], np.array([9, 7], dtype="<u8").tobytes()):  # cut short; out of order
        with engine.begin() as c:
            c.execute(t.update().where(t.c.batch_id == b1.id).values(scheme=scheme, hashes=damaged))
        assert found() == [["1402002", "t_202401.csv"]]
    with engine.begin() as c:  # and without any: joined as well
        c.execute(t.delete())
    assert found() == [["1402002", "t_202401.csv"]]


def test_key_ranges_meet_unless_a_column_shows_they_cannot():
    new = {"year": [2024, 2024], "id": ["AP2024120000001", "AP2024120511841"]}
    assert not wh_load.may_share({"year": [2023, 2024], "id": ["AP2023010000001", "AP2024110498812"]}, new, ["id"])
    assert wh_load.may_share({"year": [2023, 2024], "id": ["AP2023010000001", "AP2024120000001"]}, new, ["id"])
    assert not wh_load.may_share({"year": [2023, 2023]}, new, ["year", "id"])  # one column is enough
    assert wh_load.may_share(None, new, ["id"]) and wh_load.may_share({}, new, ["id"])  # not known: compared
    assert not wh_load.may_share({"id": None}, new, ["id"])  # the batch has no ids at all
    assert wh_load.may_share({"id": [1, 9]}, new, ["id"])  # values that do not compare: compared
    mixed = pd.DataFrame({"id": pd.Series(["AP1", 7], dtype=object), "year": [2024, 2025]})
    assert wh_load.value_ranges(mixed, ["id", "year"]) == {"year": [2024, 2025]}  # the ids' range is not known
    # Arrow's text (one pass for both ends) gives what pandas gives for the same values as objects.
    ids = ["AP2", None, "AP10", "AP1"]
    for dtype in ("string[pyarrow]", "str", pd.ArrowDtype(pa.large_string()), object):
        texts = pd.DataFrame({"id": pd.Series(ids, dtype=dtype), "none": pd.Series([None] * 4, dtype=dtype)})
        assert wh_load.value_ranges(texts, ["id", "none"]) == {"id": ["AP1", "AP2"], "none": None}, dtype


def test_an_existing_warehouse_keeps_its_rows_when_its_facts_lose_the_batch_foreign_key(request, tmp_path):
    """Revision 0009 drops the fact tables' foreign keys (PostgreSQL checked them row by row, half the load) from a
    warehouse that already holds rows; SQLite rebuilds each table, PostgreSQL drops the named key."""
    from alembic import command
    from alembic.config import Config

    for name in ("sqlite", "postgresql"):
        url = f"sqlite:///{tmp_path / 'old.db'}" if name == "sqlite" else request.getfixturevalue("postgres_url")
        e = wh_engine.engine_for(url)
        if name == "postgresql":
            wh_models.Base.metadata.drop_all(e)
            with e.begin() as c:
                c.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        cfg = Config()
        cfg.set_main_option("script_location", str(wh_engine.MIGRATIONS))
        with e.begin() as c:
            cfg.attributes["connection"] = c
            command.upgrade(cfg, "0008")
        with e.begin() as c:
            c.exec_driver_sql(
                "INSERT INTO load_batch (id, source, period, file_name, sha256, rows, run_id, loaded_at) "
                "VALUES (7, 'ledger', '2024-08', 'x.csv', 's', 2, 'r', CURRENT_TIMESTAMP)"
            )
            c.exec_driver_sql(
                "INSERT INTO ledger_actual (batch_id, year, month, area, service, cost_centre, account, account_name, "
                "line, amount_cents) VALUES (7, 2024, 8, 'A', 'S', '1402001', '4000', 'Palkat', 'Menot', 100), "
                "(7, 2024, 8, 'A', 'S', '1402002', '4000', 'Palkat', 'Menot', 250)"
            )
        assert inspect(e).get_foreign_keys("ledger_actual"), name  # the key 0009 drops is there before it

        wh_engine.migrate(e)

        i = inspect(e)
        assert [t for t in i.get_table_names() if i.get_foreign_keys(t)] == [], name
        assert "ix_ledger_actual_batch_id" in {x["name"] for x in i.get_indexes("ledger_actual")}, name
        with e.connect() as c:
            rows = c.exec_driver_sql("SELECT batch_id, amount_cents FROM ledger_actual ORDER BY amount_cents").all()
        assert [tuple(r) for r in rows] == [(7, 100), (7, 250)], name
        e.dispose()


def test_the_ledger_sums_per_line_are_the_sums_of_its_account_groups_read_in_one_pass(engine, monkeypatch):
    """`ledger_sums` reads the rows once: its per-line sums and counts equal SQL's own per-line group-by, its
    account-group sums SQL's per-group one, on both databases (months, services and groups in several files); and
    the same rows kept as blocks give the very same sums."""
    from tasks.contracts import sources

    rows = ledger_rows(6, 150)
    rows["account"] = ["4000", "4010", "4300", "3000", "4000", "4300"]
    rows["line"] = ["Menot", "Menot", "Menot", "Tulot", "Menot", "Menot"]
    rows["amount_cents"] = [100, -250, 375, 990, 1, 7]
    other = rows.assign(month=7, service="Pelastustoiminta", _file="y.csv")
    ledger = sources()["ledger"]
    monkeypatch.setitem(sources(), "ledger", dataclasses.replace(ledger, columnar=False))
    a = wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "a" * 64, rows, "run1")
    b = wh_load.load_period(engine, "ledger", "2024-07", "y.csv", "b" * 64, other, "run1")
    monthly, by_group = wh_read.ledger_sums(engine, [a.id, b.id])

    t = wh_models.LedgerRow
    keys = (t.year, t.month, t.area, t.service, t.line)
    with engine.connect() as c:
        per_line = c.execute(
            select(*keys, func.sum(t.amount_cents), func.count()).where(t.batch_id.in_([a.id, b.id])).group_by(*keys)
        ).all()
        prefix = func.substr(t.account, 1, 2)
        per_group = c.execute(
            select(*keys, prefix, func.sum(t.amount_cents)).where(t.batch_id.in_([a.id, b.id])).group_by(*keys, prefix)
        ).all()
    assert sorted(map(tuple, monthly.itertuples(index=False))) == sorted(map(tuple, per_line))
    assert sorted(map(tuple, by_group.itertuples(index=False))) == sorted(map(tuple, per_group))
    assert len(monthly) == 4 and len(by_group) == 6  # per file: Menot and Tulot; account groups 40, 43 and 30
    assert list(monthly.columns) == ["year", "month", "area", "service", "line", "cents", "rows"]
    assert monthly.equals(wh_read.in_order(monthly))

    # The same rows a year earlier, kept as blocks: the same sums, row for row.
    monkeypatch.setitem(sources(), "ledger", dataclasses.replace(ledger, columnar=True))
    c = wh_load.load_period(engine, "ledger", "2023-08", "x.csv", "c" * 64, rows.assign(year=2023), "run2")
    d = wh_load.load_period(engine, "ledger", "2023-07", "y.csv", "d" * 64, other.assign(year=2023), "run2")
    assert count(engine, "2023-08") == 6 and len(wh_read.read_facts(engine, "ledger", [a.id])) == 6
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(t.batch_id.in_([c.id, d.id]))).scalar_one() == 0
    blocks_monthly, blocks_by_group = wh_read.ledger_sums(engine, [c.id, d.id])
    assert blocks_monthly.equals(monthly.assign(year=2023)) and blocks_by_group.equals(by_group.assign(year=2023))
    both, _ = wh_read.ledger_sums(engine, [a.id, b.id, c.id, d.id])  # a report over rows and blocks at once
    assert both["cents"].sum() == 2 * monthly["cents"].sum() and len(both) == 8


def test_a_batch_checked_before_0010_stays_reusable_and_one_checked_after_keeps_what_its_warnings_found(engine):
    """Revision 0010 adds what a batch's warning checks found; a batch validated clean before it has none (NULL)
    and is reused as before, and the loader keeps the JSON it is given with a new batch."""
    with engine.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO load_batch (id, source, period, file_name, sha256, rows, run_id, loaded_at, validation_key) "
            "VALUES (7, 'ledger', '2024-07', 'y.csv', 's', 0, 'r', CURRENT_TIMESTAMP, 'k')"
        )
    found = '{"e1": [2, [4, 9]]}'
    wh_load.load_period(engine, "ledger", "2024-08", "x.csv", "a" * 64, ledger_rows(3), "run1", False, "k2", found)
    checked = wh_load.checked_files(engine).set_index("file_name")
    assert checked.loc["y.csv", "validation_key"] == "k" and pd.isna(checked.loc["y.csv", "warned"])
    assert checked.loc["x.csv", "warned"] == found


def test_the_load_plan_splits_a_source_into_its_files_only_when_its_turn_comes():
    jan = ledger_rows(3).assign(month=1, _file="t_202401.csv")
    feb = ledger_rows(2).assign(month=2, _file="t_202402.csv")
    ledger = [FileInfo("t_202401.csv", "", "s1", 3, "2024-01"), FileInfo("t_202402.csv", "", "s2", 2, "2024-02")]
    staff = [FileInfo("h_202401.csv", "", "s3", 1, "2024-01"), FileInfo("h_202402.csv", "", "s4", 1, "2024-02")]
    # The staff rows lack the file column, so splitting them fails: the failure shows when the split happens.
    extracted = Extracted(
        {
            "ledger": Extract("ledger", pd.concat([jan, feb]), ledger),
            "personnel": Extract("personnel", pd.DataFrame({"staff": [1, 2]}), staff),
        },
        pd.DataFrame(),
    )
    validated = Validated(source_statuses(extracted, {}))

    plan = wh_load.load_plan(extracted, validated)

    assert wh_load.planned_loads(extracted, validated) == 4
    first, second = next(plan), next(plan)  # the ledger's files, its rows split; the staff rows not yet touched
    assert [(p.source, p.file_name) for p in (first, second)] == [
        ("ledger", "t_202401.csv"),
        ("ledger", "t_202402.csv"),
    ]
    assert first.frame.equals(jan) and second.frame.equals(feb)
    with pytest.raises(KeyError, match="_file"):
        next(plan)


def test_the_load_plan_takes_a_source_part_by_part_and_gives_a_file_without_rows_none(tmp_path):
    jan = ledger_rows(3).assign(month=1, _file="t_202401.csv")
    mar = ledger_rows(2).assign(month=3, _file="t_202403.csv")
    apr = ledger_rows(4).assign(month=4, _file="t_202404.csv")
    rows = Rows(jan, tmp_path / "rows")
    for part in (jan, pd.concat([mar, apr], ignore_index=True)):
        rows.add(part)
    names = [("t_202401.csv", 3), ("t_202402.csv", 0), ("t_202403.csv", 2), ("t_202404.csv", 4)]
    files = [FileInfo(n, "", f"s{i}", r, f"2024-0{i + 1}") for i, (n, r) in enumerate(names)]
    extracted = Extracted({"ledger": Extract("ledger", rows, files)}, pd.DataFrame())

    plan = list(wh_load.load_plan(extracted, Validated(source_statuses(extracted, {}))))

    assert [(p.file_name, len(p.frame)) for p in plan] == names
    # The header-only February gets no rows (not another file's), with the columns and their types.
    assert plan[1].frame.dtypes.equals(jan.dtypes)
    for p, expected in zip([plan[0], plan[2], plan[3]], [jan, mar, apr]):
        pd.testing.assert_frame_equal(p.frame.reset_index(drop=True), expected)


def test_forgotten_rows_leave_the_columns_the_files_and_the_controls():
    rows = ledger_rows(3).astype({"account": "category"}).assign(_file="t_202401.csv")
    files = [FileInfo("t_202401.csv", "", "s1", 3, "2024-01")]
    controls = pd.DataFrame({"file": ["t_202401.csv"], "rows": [3]})
    extracted = Extracted({"ledger": Extract("ledger", rows, files)}, controls)

    extracted.forget_rows()

    frame = extracted.sources["ledger"].frame
    assert frame.empty and frame.dtypes.equals(rows.dtypes)
    assert extracted.sources["ledger"].files == files and extracted.controls.equals(controls)
    assert extracted.files()["rows"].tolist() == [3] and extracted.rows == 3
