"""Batches kept as columns (tasks.warehouse.columns): one block per batch in place of table rows, read by the same SQL
with the same figures, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from sqlalchemy import func, select, update

from tasks.contracts import sources
from tasks.contracts.catalog import catalog
from tasks.goals import formulas as fx
from tasks.ingest.extract import extract_source
from tasks.warehouse import columns as wh_columns
from tasks.warehouse import load as wh_load
from tasks.warehouse import read as wh_read
from tasks.warehouse.models import FACTS, BatchColumns

COLUMNAR = [sid for sid, src in sources().items() if src.columnar]


def kept_as_rows(monkeypatch, rows: bool) -> None:
    """Every columnar source kept as table rows (as batches loaded before blocks were), or back as blocks."""
    for sid in COLUMNAR:
        monkeypatch.setitem(sources(), sid, dataclasses.replace(sources()[sid], columnar=not rows))


def held(engine) -> tuple[int, int]:
    """(blocks, rows of the columnar sources' tables) in the warehouse."""
    with engine.connect() as c:
        rows = sum(c.execute(select(func.count()).select_from(FACTS[sid])).scalar_one() for sid in COLUMNAR)
        return c.execute(select(func.count()).select_from(BatchColumns)).scalar_one(), rows


def test_the_contract_keeps_the_sources_of_millions_of_rows_as_columns():
    assert set(COLUMNAR) == {"ledger", "rescue", "transfers", "feedback", "applicant_feedback"}


def test_a_columnar_batch_is_one_block_that_a_correction_replaces(engine, sample_dir):
    """A month of an event source becomes one block and no table rows; the corrected month's block replaces it, and
    the rows read back are the file's, in its order."""
    frame = extract_source(sample_dir, "rescue", 2024, 3).frame
    march = frame[frame["month"] == 3].reset_index(drop=True)
    first = wh_load.load_period(engine, "rescue", "2024-03", "r.csv", "a" * 64, march, "run1")
    assert held(engine) == (1, 0)
    corrected = march.iloc[:-5]
    again = wh_load.load_period(engine, "rescue", "2024-03", "r.csv", "b" * 64, corrected, "run2")
    assert held(engine) == (1, 0) and not again.reused and first.rows == len(march)
    back = wh_read.read_facts(engine, "rescue", [again.id])
    assert back["mission_id"].tolist() == corrected["mission_id"].tolist()
    assert back["source_line"].tolist() == corrected["_line"].tolist()
    assert back["response_s"].tolist() == corrected["response_s"].tolist()


def test_every_figure_from_blocks_is_the_figure_from_table_rows(engine, sample_dir, monkeypatch):
    """The sample's two last months of every columnar source, loaded as table rows and then again as blocks: every
    catalog indicator on those sources and every ledger sum comes out the same, to the last digit."""
    months = {}
    for sid in COLUMNAR:
        frame = extract_source(sample_dir, sid, 2024, 12).frame
        frame = frame[(frame["year"] == 2024) & (frame["month"] >= 11)]
        months[sid] = {m: part.reset_index(drop=True) for m, part in frame.groupby("month")}
    assert all(months.values())
    indicators = [i for i in catalog().indicators if i.source in COLUMNAR and fx.FORMULAS[i.formula].build]
    assert {i.source for i in indicators} >= {"rescue", "transfers", "feedback"}

    def figures(rows: bool, force: bool) -> dict:
        kept_as_rows(monkeypatch, rows)
        ids = {
            sid: [
                wh_load.load_period(engine, sid, f"2024-{m:02d}", f"{sid}{m}.csv", "s" * 64, part, "r", force).id
                for m, part in parts.items()
            ]
            for sid, parts in months.items()
        }
        out = {i.id: fx.indicator_data(engine, i, ids[i.source]) for i in indicators}
        out["ledger"] = wh_read.ledger_sums(engine, ids["ledger"])
        out["areas"] = wh_read.ledger_area_totals(engine, ids["ledger"])
        out["files"] = wh_read.ledger_totals_by_batch(engine, ids["ledger"])
        return out

    as_rows = figures(rows=True, force=False)
    blocks_before, rows_before = held(engine)
    as_blocks = figures(rows=False, force=True)
    batches = sum(len(parts) for parts in months.values())
    assert blocks_before == 0 and rows_before > 10_000 and held(engine) == (batches, 0)
    for name, expected in as_rows.items():
        for got, want in zip(
            as_blocks[name] if isinstance(expected, tuple) else [as_blocks[name]],
            expected if isinstance(expected, tuple) else [expected],
            strict=True,
        ):
            pd.testing.assert_frame_equal(got, want, check_exact=True, obj=name)
    assert all(len(v) for k, v in as_rows.items() if k not in ("ledger",))


def test_a_damaged_block_is_named_and_not_read_as_nothing(engine):
    rows = pd.DataFrame(
        {
            "answer_id": ["A1", "A2"],
            "answer_date": pd.to_datetime(["2024-08-01", "2024-08-02"]),
            "area": "Pelastuslaitos",
            "score": [10, 3],
            "year": 2024,
            "month": 8,
            "_line": [2, 3],
            "_file": "f.csv",
        }
    )
    b = wh_load.load_period(engine, "feedback", "2024-08", "f.csv", "a" * 64, rows, "run1")
    with engine.begin() as c:
        c.execute(update(BatchColumns).where(BatchColumns.batch_id == b.id).values(data=b"PAR1 not a block"))
    nps = catalog().indicators[0]
    nps = dataclasses.replace(nps, source="feedback", formula="nps", params={"score": "score"})
    with pytest.raises(wh_columns.DamagedBlock, match=f"Tietovaraston erän {b.id} rivejä ei voi lukea"):
        fx.indicator_data(engine, nps, [b.id])


def test_a_block_refuses_what_the_table_would_refuse():
    """A missing value in a column the table declares NOT NULL stops the load; cents that are not whole are not cut."""
    table = FACTS["ledger"].__table__
    ledger = pd.DataFrame(
        {
            "year": [2024],
            "month": [8],
            "area": [None],
            "service": ["Riskienhallinta"],
            "line": ["Menot"],
            "cost_centre": ["1402001"],
            "account": ["4000"],
            "account_name": ["Palkat"],
            "amount_cents": [100.0],
        }
    )
    with pytest.raises(ValueError, match="ledger_actual.area: 1 missing"):
        wh_columns.block_bytes(ledger, table)
    with pytest.raises(Exception, match="truncated|lose data"):
        wh_columns.block_bytes(ledger.assign(area="Pelastuslaitos", amount_cents=100.5), table)
    assert wh_columns.block_bytes(ledger.assign(area="Pelastuslaitos"), table)[:4] == b"PAR1"


def answers(month: int, scores: list) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "answer_id": [f"A{month}-{i}" for i in range(len(scores))],
            "answer_date": pd.Timestamp(2024, month, 3),
            "area": "Pelastuslaitos",
            "score": pd.array(scores, dtype="Int64"),
            "year": 2024,
            "month": month,
            "_line": range(2, len(scores) + 2),
            "_file": f"f{month}.csv",
        }
    )


def test_files_are_loaded_in_turn_while_the_next_ones_block_is_made_and_a_bad_one_stops_at_itself(engine):
    """`load_files` makes the next columnar file's block beside the current file's load: each file is still its own
    batch with its own rows, a table-row source between them is loaded as rows, and a block that cannot be made
    (a required score missing) stops the load at its file, the files before it loaded."""
    homeless = pd.DataFrame({"year": [2023], "group": ["Yksin"], "count": [7], "_line": [2], "_file": "h.csv"})
    loads = [
        wh_load.PlannedLoad("feedback", "2024-01", "f1.csv", "1" * 64, answers(1, [10, 9, 3]), "k"),
        wh_load.PlannedLoad("homelessness", "2023", "h.csv", "2" * 64, homeless, "k"),
        wh_load.PlannedLoad("feedback", "2024-02", "f2.csv", "3" * 64, answers(2, [5, 6]), "k"),
        wh_load.PlannedLoad("feedback", "2024-03", "f3.csv", "4" * 64, answers(3, [8, None]), "k"),
    ]
    with pytest.raises(ValueError, match="feedback.score: 1 missing"):
        wh_load.load_files(engine, iter(loads), "run1", planned=len(loads))
    loaded = wh_load.checked_files(engine).sort_values("period")
    assert loaded["file_name"].tolist() == ["h.csv", "f1.csv", "f2.csv"]
    ids = dict(zip(loaded["file_name"], loaded["batch_id"], strict=True))
    assert wh_read.read_facts(engine, "feedback", [ids["f1.csv"]])["score"].tolist() == [10, 9, 3]
    assert wh_read.read_facts(engine, "feedback", [ids["f2.csv"]])["answer_id"].tolist() == ["A2-0", "A2-1"]
    assert wh_read.read_facts(engine, "homelessness", [ids["h.csv"]])["count"].tolist() == [7]
    assert held(engine) == (2, 0)
