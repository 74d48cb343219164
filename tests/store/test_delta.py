"""Tests for `fti.store.delta`: feature groups exported to and imported from Delta Lake tables.

The round trip is checked on states, not numbers: a store with two feature groups
whose commits interleave (observations and the features joined to them, with
updates and an all-unchanged commit) is exported, imported into a fresh store, and
every past state must read the same there, through ``fg.read(as_of=...)`` and a
point-in-time ``Query.read(as_of=...)``, by commit and by time. Tables written by
"another engine" are made with ``deltalake`` directly (append, merge, optimize,
delete), the operations a Spark job performs on a Delta table.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest
from arro3.core import Table as ArrowTable
from deltalake import DeltaTable, QueryBuilder, convert_to_deltalake, write_deltalake

import fti
from fti.exceptions import (
    DeltaHistoryError,
    DeltaLakeError,
    DeltaSchemaError,
    FTIError,
    NotADeltaTableError,
    ParameterError,
    TimelineError,
)
from fti.store.storage import fetch_frame

DAY = pd.Timestamp("2024-03-01", tz="UTC")
# "Another engine": data made with SQL, handed to deltalake as Arrow (no pyarrow needed).
ENGINE = duckdb.connect()
ENGINE.execute("SET TimeZone = 'UTC'")


def rows(sql: str) -> ArrowTable:
    """Rows for a Delta writer, typed by SQL."""
    return ArrowTable.from_arrow(ENGINE.sql(sql))


def delta_frame(table: DeltaTable) -> pd.DataFrame:
    """What a Delta reader sees at the table's loaded version."""
    data = QueryBuilder().register("t", table).execute("SELECT * FROM t").read_all()
    ENGINE.register("_delta_version", data)
    try:
        return fetch_frame(ENGINE, "SELECT * FROM _delta_version")  # without pandas 3's deprecation noise
    finally:
        ENGINE.unregister("_delta_version")


def at(hours: float) -> str:
    """The simulated clock, ``hours`` after midnight on 1 March 2024."""
    return (DAY + pd.Timedelta(hours=hours)).isoformat()


def build_source(store_path, monkeypatch) -> fti.FeatureStore:
    """A store whose two feature groups commit in turns, with updates and one commit that changes nothing."""
    fs = fti.get_feature_store(store_path)
    trips = fs.get_or_create_feature_group("trips", 1, primary_key=["trip_id"], event_time="started_at",
                                           description="observations")
    drivers = fs.get_or_create_feature_group("drivers", 1, primary_key=["driver_id"], event_time="as_at",
                                             online_enabled=True, ttl=dt.timedelta(days=2))
    steps = [
        (1, drivers, {"driver_id": ["a", "b"], "as_at": [DAY, DAY], "rating": [4.5, 3.9], "active": [True, True]}),
        (2, trips, {"trip_id": [1, 2], "started_at": [DAY + pd.Timedelta(hours=1)] * 2, "driver_id": ["a", "b"],
                    "late": [0, 1]}),
        # An update: driver b's rating for the same (key, event time) is corrected.
        (3, drivers, {"driver_id": ["b", "a"], "as_at": [DAY, DAY + pd.Timedelta(hours=3)], "rating": [4.1, 4.8],
                      "active": [True, False]}),
        (4, trips, {"trip_id": [3], "started_at": [DAY + pd.Timedelta(hours=4)], "driver_id": ["a"], "late": [0]}),
        # Nothing new: a commit all the same (an empty Delta version on export).
        (5, drivers, {"driver_id": ["a"], "as_at": [DAY], "rating": [4.5], "active": [True]}),
        # A label arrives late: trip 2 is updated.
        (6, trips, {"trip_id": [2], "started_at": [DAY + pd.Timedelta(hours=1)], "driver_id": ["b"], "late": [0]}),
    ]
    for hours, fg, rows in steps:
        monkeypatch.setenv("FTI_NOW", at(hours))
        fg.insert(pd.DataFrame(rows))
    return fs


def query(fs: fti.FeatureStore) -> fti.Query:
    trips = fs.get_feature_group("trips", 1)
    drivers = fs.get_feature_group("drivers", 1)
    return trips.select_all().join(drivers.select(["rating", "active"]), on=["driver_id"])


def store_commits(fs: fti.FeatureStore) -> list[int]:
    """Every commit id of the store, oldest first."""
    ids = []
    for name in ("trips", "drivers"):
        ids += list(fs.get_feature_group(name, 1).commit_details()["commit_id"])
    return sorted(int(i) for i in ids)


def without_ids(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["commit_id", "report_id"]).reset_index(drop=True)


@pytest.fixture
def source(tmp_path, monkeypatch):
    return build_source(tmp_path / "source", monkeypatch)


def export_both(fs: fti.FeatureStore, folder) -> list:
    return [fs.get_feature_group(name, 1).export_delta(folder / name) for name in ("trips", "drivers")]


# --------------------------------------------------------------------------- the round trip


def test_round_trip_reads_every_past_state_the_same(source, tmp_path, monkeypatch):
    paths = export_both(source, tmp_path / "delta")
    monkeypatch.delenv("FTI_NOW")  # the import keeps the tables' times whatever this process's clock
    target = fti.get_feature_store(tmp_path / "target")
    imported = target.import_deltas([str(path) for path in paths])

    assert [(fg.name, fg.version) for fg in imported] == [("trips", 1), ("drivers", 1)]
    for name in ("trips", "drivers"):
        before, after = source.get_feature_group(name, 1), target.get_feature_group(name, 1)
        assert (after.primary_key, after.event_time, after.columns, after.online_enabled, after.ttl,
                after.description) == (before.primary_key, before.event_time, before.columns,
                                       before.online_enabled, before.ttl, before.description)
        # Times, row counts (unchanged ones too) and verdicts survive; the ids are the new store's.
        pd.testing.assert_frame_equal(without_ids(after.commit_details()), without_ids(before.commit_details()))
        pd.testing.assert_frame_equal(after.read(), before.read())

    old_ids, new_ids = store_commits(source), store_commits(target)
    assert len(old_ids) == len(new_ids) == 6
    old_query, new_query = query(source), query(target)
    compared = 0
    for old, new in zip(old_ids, new_ids, strict=True):
        for name in ("trips", "drivers"):
            before, after = source.get_feature_group(name, 1), target.get_feature_group(name, 1)
            if old >= int(before.commit_details()["commit_id"].min()):  # before it, as_of is refused
                pd.testing.assert_frame_equal(after.read(as_of=new), before.read(as_of=old))
                compared += 1
                if name == "trips":  # the query's observations
                    pd.testing.assert_frame_equal(new_query.read(as_of=new), old_query.read(as_of=old))
    assert compared == 11
    for hours in (2.5, 3, 4.5, 6, 30):
        when = DAY + pd.Timedelta(hours=hours)
        pd.testing.assert_frame_equal(new_query.read(as_of=when), old_query.read(as_of=when))
        pd.testing.assert_frame_equal(target.get_feature_group("drivers", 1).read(as_of=when),
                                      source.get_feature_group("drivers", 1).read(as_of=when))
    # The commit that changed nothing is still a commit of its own.
    assert list(target.get_feature_group("drivers", 1).commit_details()["rows_unchanged"]) == [0, 0, 1]


def test_a_delta_reader_sees_one_version_per_commit_and_no_bookkeeping(source, tmp_path):
    drivers = source.get_feature_group("drivers", 1)
    table = DeltaTable(str(drivers.export_delta(tmp_path / "drivers")))
    commits = list(drivers.commit_details()["commit_id"])
    assert table.version() == len(commits)  # version 0 creates the table
    for version, commit in enumerate(commits, start=1):
        table.load_as_version(version)  # Spark: .option("versionAsOf", version)
        seen = delta_frame(table).sort_values(["driver_id", "as_at"]).reset_index(drop=True)
        expected = drivers.read(as_of=int(commit))
        assert list(seen.columns) == drivers.features
        pd.testing.assert_frame_equal(seen, expected, check_dtype=False)
    properties = table.metadata().configuration
    assert properties["fti.primaryKey"] == '["driver_id"]' and properties["fti.eventTime"] == "as_at"
    assert properties["fti.timeline"] == "simulated"
    infos = {info["version"]: info for info in table.history()}
    assert infos[2]["operation"] == "MERGE"  # the update is an upsert, as a Spark pipeline writes it
    assert infos[2]["fti.committedAt"] == at(3)


def test_an_online_group_is_served_after_import(source, tmp_path, monkeypatch):
    path = source.get_feature_group("drivers", 1).export_delta(tmp_path / "drivers")
    target = fti.get_feature_store(tmp_path / "target")
    drivers = target.import_delta(path)
    view = target.get_or_create_feature_view("ratings", 1, drivers.select(["rating"]))
    assert view.get_feature_vector({"driver_id": "a"}) == [4.8]


def test_import_latest_only_is_one_commit_of_the_latest_state(source, tmp_path):
    drivers = source.get_feature_group("drivers", 1)
    path = drivers.export_delta(tmp_path / "drivers")
    target = fti.get_feature_store(tmp_path / "target")
    imported = target.import_delta(path, name="drivers_now", history="latest")
    commits = imported.commit_details()
    assert len(commits) == 1 and commits["rows_inserted"].iloc[0] == 3
    assert commits["committed_at"].iloc[0] == drivers.commit_details()["committed_at"].iloc[-1]
    pd.testing.assert_frame_equal(imported.read(), drivers.read())


# --------------------------------------------------------------------------- tables another engine wrote


def engine_frame(ids, days, values) -> ArrowTable:
    """int, TIMESTAMP_NTZ, float and string columns, as a Spark job might write them."""
    values_sql = ", ".join(f"({i}, TIMESTAMP '2024-05-0{d}', {v}, 'v{v}')" for i, d, v in zip(ids, days, values,
                                                                                           strict=True))
    return rows(f"SELECT id::INTEGER AS id, day, value::FLOAT AS value, label FROM (VALUES {values_sql}) "
                "t(id, day, value, label)")


def upsert(path, data: ArrowTable) -> None:
    """What a Spark feature pipeline does each day: MERGE INTO ... ON id AND day."""
    (DeltaTable(str(path)).merge(data, predicate="t.id = s.id AND t.day = s.day", source_alias="s",
                                 target_alias="t").when_matched_update_all().when_not_matched_insert_all().execute())


def test_a_table_another_engine_wrote_becomes_one_commit_per_version(tmp_path):
    path = tmp_path / "spark"
    write_deltalake(str(path), engine_frame([1, 2], [1, 1], [10, 20]))
    upsert(path, engine_frame([2, 3], [1, 2], [25, 30]))
    DeltaTable(str(path)).optimize.compact()  # rewrites files, changes no row: no commit
    upsert(path, engine_frame([1], [1], [10]))  # a no-op merge: no new version
    table = DeltaTable(str(path))
    history = {info["version"]: info for info in table.history()}

    fs = fti.get_feature_store(tmp_path / "store")
    fg = fs.import_delta(path, name="engine", primary_key=["id"], event_time="day")
    assert fg.columns == [("id", "BIGINT"), ("day", "TIMESTAMPTZ"), ("value", "DOUBLE"), ("label", "VARCHAR")]
    commits = fg.commit_details()
    assert list(commits["rows_inserted"]) == [2, 1] and list(commits["rows_updated"]) == [0, 1]
    # Each commit is stamped with Delta's own commit time (milliseconds, the writer's clock).
    expected_times = [pd.Timestamp(history[v]["timestamp"], unit="ms", tz="UTC") for v in (0, 1)]
    assert list(commits["committed_at"]) == expected_times
    table.load_as_version(0)
    first = fg.read(as_of=int(commits["commit_id"].iloc[0]))
    assert list(first["value"]) == [10.0, 20.0]
    latest = fg.read()
    assert list(latest["id"]) == [1, 2, 3] and list(latest["value"]) == [10.0, 25.0, 30.0]
    assert list(latest["day"]) == [pd.Timestamp("2024-05-01", tz="UTC")] * 2 + [pd.Timestamp("2024-05-02", tz="UTC")]


def test_spark_continues_an_exported_history_and_the_kit_reads_it(tmp_path, monkeypatch):
    monkeypatch.delenv("FTI_NOW", raising=False)  # a real-clock store: the engine's times follow on
    fs = fti.get_feature_store(tmp_path / "laptop")
    fg = fs.get_or_create_feature_group("sensors", 1, primary_key=["sensor"], event_time="hour")
    fg.insert(pd.DataFrame({"sensor": [1, 2], "hour": [DAY, DAY], "temp": [20.5, 21.0]}))
    path = fg.export_delta(tmp_path / "sensors")
    # The pipeline moves to Spark, which appends the next hour to the same table.
    write_deltalake(str(path), rows("SELECT sensor::BIGINT AS sensor, TIMESTAMPTZ '2024-03-01 01:00:00+00' AS hour, "
                                    "temp::DOUBLE AS temp FROM (VALUES (1, 20.9), (2, 21.4)) t(sensor, temp)"),
                    mode="append")
    target = fti.get_feature_store(tmp_path / "cluster-copy")
    sensors = target.import_delta(path)
    commits = sensors.commit_details()
    assert list(commits["rows_inserted"]) == [2, 2]
    assert commits["committed_at"].iloc[0] == fg.commit_details()["committed_at"].iloc[0]
    assert len(sensors.read(as_of=int(commits["commit_id"].iloc[0]))) == 2
    assert list(sensors.read()["temp"]) == [20.5, 20.9, 21.0, 21.4]


# --------------------------------------------------------------------------- histories that cannot be commits


def test_deleted_rows_are_refused_and_latest_imports_the_state(tmp_path):
    path = tmp_path / "spark"
    write_deltalake(str(path), engine_frame([1, 2, 3], [1, 1, 1], [1, 2, 3]))
    DeltaTable(str(path)).delete("id = 2")
    fs = fti.get_feature_store(tmp_path / "store")
    with pytest.raises(DeltaHistoryError, match=r"version 1 deleted 1 row.*history='latest'"):
        fs.import_delta(path, name="engine", primary_key=["id"], event_time="day")
    assert fs.get_feature_groups().empty
    fg = fs.import_delta(path, name="engine", primary_key=["id"], event_time="day", history="latest")
    assert list(fg.read()["id"]) == [1, 3]


def test_a_schema_that_changes_between_versions_is_refused(tmp_path):
    path = tmp_path / "spark"
    write_deltalake(str(path), engine_frame([1], [1], [1]))
    wider = rows("SELECT 2::INTEGER AS id, TIMESTAMP '2024-05-02' AS day, 2::FLOAT AS value, 'v2' AS label, "
                 "1.0::DOUBLE AS extra")
    write_deltalake(str(path), wider, mode="append", schema_mode="merge")
    fs = fti.get_feature_store(tmp_path / "store")
    with pytest.raises(DeltaHistoryError, match="version 1 has the columns"):
        fs.import_delta(path, name="engine", primary_key=["id"], event_time="day")
    assert fs.get_feature_groups().empty
    assert "extra" in fs.import_delta(path, name="engine", primary_key=["id"], history="latest").features


def test_vacuumed_versions_are_refused_with_a_way_out(tmp_path):
    path = tmp_path / "spark"
    write_deltalake(str(path), engine_frame([1], [1], [1]))
    write_deltalake(str(path), engine_frame([2], [2], [2]), mode="overwrite")
    DeltaTable(str(path)).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    fs = fti.get_feature_store(tmp_path / "store")
    with pytest.raises(DeltaHistoryError):
        fs.import_delta(path, name="engine", primary_key=["id"], event_time="day")
    assert len(fs.import_delta(path, name="engine", primary_key=["id"], event_time="day",
                               history="latest").read()) == 1


# --------------------------------------------------------------------------- bad input: an FTIError, nothing written


@pytest.mark.parametrize("make", ["missing", "empty folder", "a file", "parquet only"])
def test_not_a_delta_table(tmp_path, make):
    path = tmp_path / "input"
    if make == "empty folder":
        path.mkdir()
    elif make == "a file":
        path.write_text("not a table")
    elif make == "parquet only":
        path.mkdir()
        ENGINE.execute(f"COPY (SELECT 1 AS id) TO '{path / 'part-0.parquet'}'")
    fs = fti.get_feature_store(tmp_path / "store")
    with pytest.raises(NotADeltaTableError, match="is not a Delta table"):
        fs.import_delta(path, name="x", primary_key=["id"])
    assert fs.get_feature_groups().empty


def engine_table(tmp_path, sql: str) -> str:
    path = tmp_path / "spark"
    write_deltalake(str(path), rows(sql))
    return str(path)


@pytest.mark.parametrize(("sql", "arguments", "message"), [
    ("SELECT 1 AS id, 1.0::DOUBLE AS x", {"primary_key": ["key"]}, "has no primary key column 'key'"),
    ("SELECT 1 AS id, 1.0::DOUBLE AS x", {"primary_key": ["id"], "event_time": "seen"},
     "has no event time column 'seen'"),
    ("SELECT 1 AS id, DATE '2024-01-01' AS seen", {"primary_key": ["id"], "event_time": "seen"},
     "column 'seen' has type DATE.*F.to_timestamp"),
    ("SELECT 1 AS id, 1.50::DECIMAL(5, 2) AS price", {"primary_key": ["id"]},
     "column 'price' has type DECIMAL.*double"),
    ("SELECT 1 AS id, ['a', 'b'] AS tags", {"primary_key": ["id"]}, r"column 'tags' has type VARCHAR\[\]"),
    ("SELECT 1.5::DOUBLE AS id, 1.0::DOUBLE AS x", {"primary_key": ["id"]},
     "keys must be whole numbers, text or datetimes"),
    ("SELECT 1 AS id, '2024-01-01' AS seen", {"primary_key": ["id"], "event_time": "seen"}, "should hold datetimes"),
    ("SELECT * FROM (VALUES (1, 1.0::DOUBLE), (1, 2.0::DOUBLE)) t(id, x)", {"primary_key": ["id"]},
     r"2 rows with \['id'\] = \{'id': 1\}"),
    ("SELECT * FROM (VALUES (1, 1.0::DOUBLE), (NULL, 2.0::DOUBLE)) t(id, x)", {"primary_key": ["id"]},
     "primary key column 'id' has 1 null"),
])
def test_a_table_that_does_not_fit_a_feature_group(tmp_path, sql, arguments, message):
    path = engine_table(tmp_path, sql)
    fs = fti.get_feature_store(tmp_path / "store")
    with pytest.raises(DeltaSchemaError, match=message):
        fs.import_delta(path, name="engine", **arguments)
    assert fs.get_feature_groups().empty


def test_nanosecond_times_are_refused_not_truncated(tmp_path):
    # pandas writes nanoseconds; a Delta table made from such files (convert_to_deltalake, or an
    # engine that writes them) holds times that deltalake would cut to microseconds, merging two keys.
    path = tmp_path / "nanos"
    path.mkdir()
    ENGINE.execute(
        "COPY (SELECT * FROM (VALUES (1, '2024-03-01 00:00:00.000000001'::TIMESTAMP_NS), "
        f"(2, '2024-03-01 00:00:00.000001'::TIMESTAMP_NS)) t(id, seen_at)) TO '{path / 'part-0.parquet'}'"
    )
    convert_to_deltalake(str(path))
    fs = fti.get_feature_store(tmp_path / "store")
    with pytest.raises(DeltaSchemaError, match="nanosecond times in column 'seen_at'"):
        fs.import_delta(path, name="nanos", primary_key=["id"], event_time="seen_at")
    assert fs.get_feature_groups().empty


def test_whole_microseconds_in_a_nanosecond_file_pass(tmp_path):
    path = tmp_path / "nanos"
    path.mkdir()
    ENGINE.execute(f"COPY (SELECT 1 AS id, '2024-03-01 00:00:00.000001'::TIMESTAMP_NS AS seen_at) "
                   f"TO '{path / 'part-0.parquet'}'")
    convert_to_deltalake(str(path))
    fg = fti.get_feature_store(tmp_path / "store").import_delta(path, name="nanos", primary_key=["id"],
                                                                  event_time="seen_at")
    assert fg.read()["seen_at"].iloc[0] == pd.Timestamp("2024-03-01 00:00:00.000001", tz="UTC")


def test_a_foreign_table_needs_a_name_and_a_key(tmp_path):
    path = engine_table(tmp_path, "SELECT 1 AS id")
    fs = fti.get_feature_store(tmp_path / "store")
    with pytest.raises(DeltaLakeError, match=r"name=\.\.\."):
        fs.import_delta(path, primary_key=["id"])
    with pytest.raises(DeltaSchemaError, match="primary_key=\\['id'\\]"):
        fs.import_delta(path, name="engine")


def test_an_exported_table_keeps_its_own_key(source, tmp_path):
    path = source.get_feature_group("drivers", 1).export_delta(tmp_path / "drivers")
    fs = fti.get_feature_store(tmp_path / "store")
    with pytest.raises(DeltaSchemaError, match="primary key"):
        fs.import_delta(path, primary_key=["rating"])


@pytest.mark.parametrize(("arguments", "error"), [
    ({"history": "some"}, ParameterError),
    ({"commit_times": "then"}, ParameterError),
    ({"path": 42}, ParameterError),
    ({"primary_key": "id"}, FTIError),
    ({"name": "no spaces"}, FTIError),
])
def test_bad_arguments(tmp_path, arguments, error):
    fs = fti.get_feature_store(tmp_path / "store")
    call = {"path": engine_table(tmp_path, "SELECT 1 AS id"), "name": "engine", "primary_key": ["id"]} | arguments
    with pytest.raises(error):
        fs.import_delta(**call)
    assert fs.get_feature_groups().empty


def test_an_existing_feature_group_is_not_overwritten(source, tmp_path):
    path = source.get_feature_group("drivers", 1).export_delta(tmp_path / "drivers")
    before = source.get_feature_group("drivers", 1).read()
    with pytest.raises(DeltaLakeError, match="exists already.*version=2"):
        source.import_delta(path)
    pd.testing.assert_frame_equal(source.get_feature_group("drivers", 1).read(), before)


def test_one_bad_table_imports_none(source, tmp_path):
    good = source.get_feature_group("drivers", 1).export_delta(tmp_path / "drivers")
    bad = engine_table(tmp_path, "SELECT * FROM (VALUES (1), (1)) t(id)")
    fs = fti.get_feature_store(tmp_path / "store")
    with pytest.raises(DeltaSchemaError):
        fs.import_deltas([good, {"path": bad, "name": "engine", "primary_key": ["id"]}])
    assert fs.get_feature_groups().empty


def test_export_never_overwrites_and_leaves_nothing_behind(source, tmp_path):
    drivers = source.get_feature_group("drivers", 1)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    with pytest.raises(DeltaLakeError, match="exists already"):
        drivers.export_delta(taken)
    assert [p.name for p in tmp_path.iterdir() if p.name != "source"] == ["taken"]
    assert (taken / "notes.txt").read_text() == "mine"
    empty = source.get_or_create_feature_group("empty", 1, primary_key=["id"])
    with pytest.raises(FTIError, match="no data yet"):
        empty.export_delta(tmp_path / "empty")
    assert not (tmp_path / "empty").exists()


# --------------------------------------------------------------------------- timelines and commit times


def test_a_simulation_cannot_land_in_a_real_clock_store(source, tmp_path, monkeypatch):
    path = source.get_feature_group("drivers", 1).export_delta(tmp_path / "drivers")
    monkeypatch.delenv("FTI_NOW")
    lab = fti.get_feature_store(tmp_path / "lab")
    lab.get_or_create_feature_group("mine", 1, primary_key=["id"]).insert(pd.DataFrame({"id": [1]}))
    with pytest.raises(TimelineError, match="commit_times='now'"):
        lab.import_delta(path)
    assert list(lab.get_feature_groups()["name"]) == ["mine"]
    drivers = lab.import_delta(path, commit_times="now")
    commits = drivers.commit_details()
    assert len(commits) == 3 and (commits["committed_at"] > pd.Timestamp("2025-01-01", tz="UTC")).all()
    pd.testing.assert_frame_equal(drivers.read(), source.get_feature_group("drivers", 1).read())


def test_an_older_history_cannot_follow_newer_commits(source, tmp_path, monkeypatch):
    path = source.get_feature_group("drivers", 1).export_delta(tmp_path / "drivers")
    target = fti.get_feature_store(tmp_path / "target")
    monkeypatch.setenv("FTI_NOW", at(48))
    target.get_or_create_feature_group("later", 1, primary_key=["id"]).insert(pd.DataFrame({"id": [1]}))
    with pytest.raises(DeltaHistoryError, match="before the store's latest commit"):
        target.import_delta(path)
    imported = target.import_delta(path, commit_times="now")
    assert (imported.commit_details()["committed_at"] == pd.Timestamp(at(48))).all()


def test_a_fresh_store_takes_on_the_imported_timeline(source, tmp_path, monkeypatch):
    path = source.get_feature_group("drivers", 1).export_delta(tmp_path / "drivers")
    monkeypatch.delenv("FTI_NOW")
    target = fti.get_feature_store(tmp_path / "target")
    target.import_delta(path)
    # The store now holds a simulation: a real-clock insert is refused, as in the source store.
    with pytest.raises(TimelineError):
        target.get_or_create_feature_group("mine", 1, primary_key=["id"]).insert(pd.DataFrame({"id": [1]}))
