"""Batch sums: a report reads the rows of new batches only and adds up what earlier reports summed, on both
databases, with the same figures as reading every row."""

from __future__ import annotations

from sqlalchemy import delete, func, select, text

from tasks.warehouse import load as wh_load
from tasks.warehouse import models as wh_models
from tasks.warehouse import read as wh_read
from tasks.warehouse.summaries import SumStore, store_sums
from tests.warehouse.test_warehouse import ledger_rows


def month(period: str, cents: list[int]):
    rows = ledger_rows(len(cents)).assign(month=int(period[-2:]), _file=f"{period}.csv")
    rows["amount_cents"] = cents
    rows["line"] = ["Menot" if c < 0 else "Tulot" for c in cents]
    return rows


def read(engine, batches) -> tuple:
    """The ledger reads of one report, through its snapshot (which keeps the batch sums)."""
    loaded = wh_load.Loaded(batches)
    with wh_read.snapshot(engine, loaded) as snap:
        ids = loaded.ids("ledger")
        monthly, by_group = wh_read.ledger_sums(snap, ids)
        return monthly, by_group, wh_read.ledger_area_totals(snap, ids), wh_read.ledger_totals_by_batch(snap, ids)


def kept(engine) -> dict[int, int]:
    """Stored batch sums per batch."""
    t = wh_models.BatchSum
    with engine.connect() as c:
        return dict(c.execute(select(t.batch_id, func.count()).group_by(t.batch_id)).all())


def test_a_report_reads_new_batches_only_and_adds_up_what_earlier_reports_summed(engine):
    july = wh_load.load_period(engine, "ledger", "2024-07", "07.csv", "a" * 64, month("2024-07", [-100, 250, -7]), "r1")
    august = wh_load.load_period(engine, "ledger", "2024-08", "08.csv", "b" * 64, month("2024-08", [-40, -2]), "r1")
    every_row = read(engine, [july, august])
    # Read from the rows with nothing kept: what SQL sums straight from every row.
    monthly, by_group, areas, files = every_row
    assert sorted(zip(monthly["month"], monthly["line"], monthly["cents"], monthly["rows"])) == [
        (7, "Menot", -107, 2),
        (7, "Tulot", 250, 1),
        (8, "Menot", -42, 2),
    ]
    assert areas.to_dict("records") == [{"area": "Pelastuslaitos", "cents": 101}]
    assert files.to_dict("records") == [
        {"file": "07.csv", "rows": 3, "cents": 143},
        {"file": "08.csv", "rows": 2, "cents": -42},
    ]
    assert kept(engine) == {july.id: 3, august.id: 3}  # the ledger's three sums, for each batch

    # July's rows gone behind the warehouse's back: a later report does not read them, it adds up what was kept.
    with engine.begin() as c:
        c.execute(delete(wh_models.LedgerRow).where(wh_models.LedgerRow.batch_id == july.id))
    again = read(engine, [july, august])
    for before, after in zip(every_row, again):
        assert before.equals(after)

    # A corrected August is a new batch: its own sums are read from its rows, the old batch's go with it.
    fixed = wh_load.load_period(engine, "ledger", "2024-08", "08.csv", "c" * 64, month("2024-08", [-40, -5]), "r2")
    monthly, _, areas, files = read(engine, [july, fixed])
    assert sorted(zip(monthly["month"], monthly["cents"])) == [(7, -107), (7, 250), (8, -45)]
    assert areas["cents"].tolist() == [98]
    assert files["cents"].tolist() == [143, -45]
    with engine.connect() as c:
        stored = c.execute(select(wh_models.BatchSum.batch_id, wh_models.BatchSum.sha256)).all()
    assert sorted({sha for _, sha in stored}) == ["a" * 64, "c" * 64]  # nothing kept of the replaced batch


def test_a_bare_engine_reads_every_row_and_keeps_nothing(engine):
    """Tools reading the warehouse outside a report get the same sums and leave nothing behind."""
    july = wh_load.load_period(engine, "ledger", "2024-07", "07.csv", "a" * 64, month("2024-07", [-100, 250, -7]), "r1")
    from_rows = wh_read.ledger_sums(engine, [july.id])
    assert kept(engine) == {}
    through_report = read(engine, [july])
    assert from_rows[0].equals(through_report[0]) and from_rows[1].equals(through_report[1])


def test_sums_kept_twice_are_kept_once(engine):
    """Two runs that summed the same batch both keep it: one copy, no error."""
    july = wh_load.load_period(engine, "ledger", "2024-07", "07.csv", "a" * 64, month("2024-07", [-100, 250]), "r1")
    store = SumStore([{"batch_id": july.id, "sha256": "a" * 64, "query": "q", "result": "[]"}] * 2)
    store_sums(engine, store)
    assert kept(engine) == {july.id: 1} and store.pending == []


def test_sums_that_cannot_be_written_cost_the_next_report_its_reading_not_the_report(sqlite_engine):
    """The table refuses every write (as a full disk would): the report is read all the same, and the next one
    reads the rows again."""
    july = wh_load.load_period(
        sqlite_engine, "ledger", "2024-07", "07.csv", "a" * 64, month("2024-07", [-100, 250, -7]), "r1"
    )
    with sqlite_engine.begin() as c:
        c.execute(
            text("CREATE TRIGGER full_disk BEFORE INSERT ON batch_sum BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        )
    first = read(sqlite_engine, [july])
    assert kept(sqlite_engine) == {}
    assert first[2].to_dict("records") == [{"area": "Pelastuslaitos", "cents": 143}]
    again = read(sqlite_engine, [july])
    for before, after in zip(first, again):
        assert before.equals(after)
