"""Store features that forecasting needs: time keys, joins as of a chosen time, many predictions per run.

A weather forecast has two times: when it was issued and the time it is for (its
valid time). In the store it is a feature group whose primary key includes the
valid time and whose event time is the issue time, so a point-in-time join gives a
forecast row (a target half-hour, forecast from a cutoff) the latest forecast
*issued* by the cutoff. Its label is different: what happened at the target time,
joined with ``observation_time="target_time"``. Predictions are the same shape:
48 rows per run, keyed by target time, with the run's issue time as event time.

The joins are checked against a brute-force oracle written with plain loops.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import fti

DAY = pd.Timestamp("2024-03-01", tz="UTC")
HALF_HOUR = pd.Timedelta(minutes=30)


def forecast_frame(issue: pd.Timestamp, steps: int = 8, offset: float = 0.0, region: str = "VIC") -> pd.DataFrame:
    """A forecast issued at ``issue`` for the next ``steps`` half-hours; the value encodes issue and step."""
    valid = pd.date_range(issue, periods=steps, freq="30min")
    return pd.DataFrame({
        "region": region,
        "valid_time": valid,
        "issue_time": issue,
        "temperature": issue.hour * 100 + np.arange(steps, dtype=float) + offset,
    })


def forecasts_group(fs, online: bool = False):
    return fs.get_or_create_feature_group(
        "forecasts", version=1, primary_key=["region", "valid_time"], event_time="issue_time", online_enabled=online,
    )


def targets_group(fs, rows: pd.DataFrame):
    fg = fs.get_or_create_feature_group("targets", version=1, primary_key=["region", "target_time"],
                                        event_time="issue_time")
    fg.insert(rows)
    return fg


def target_rows(issue: pd.Timestamp, first: pd.Timestamp, count: int) -> pd.DataFrame:
    return pd.DataFrame({"region": "VIC", "target_time": pd.date_range(first, periods=count, freq="30min"),
                         "issue_time": issue, "slot": np.arange(count)})


# -- time keys ------------------------------------------------------------------------------------


def test_a_timestamp_can_be_part_of_the_primary_key(fs):
    fg = forecasts_group(fs)
    first = fg.insert(forecast_frame(DAY))
    assert (first.rows_inserted, first.rows_updated) == (8, 0)
    # The same valid times from a later issue are new rows: (key, event time) is new.
    second = fg.insert(forecast_frame(DAY + pd.Timedelta(hours=1)))
    assert second.rows_inserted == 8
    # Re-running an issue changes nothing; changing one value of it updates one row.
    assert fg.insert(forecast_frame(DAY)).rows_unchanged == 8
    changed = forecast_frame(DAY)
    changed.loc[3, "temperature"] += 0.5
    assert fg.insert(changed).rows_updated == 1
    assert fg.insert(changed).rows_unchanged == 8
    stored = fg.read()
    assert len(stored) == 16
    assert stored.groupby("issue_time").size().tolist() == [8, 8]
    assert fg.schema.set_index("name")["role"].to_dict()["valid_time"] == "primary key"
    assert str(stored["valid_time"].dtype) == "datetime64[us, UTC]"


def test_a_null_time_key_is_refused_and_nothing_is_written(fs):
    fg = forecasts_group(fs)
    fg.insert(forecast_frame(DAY))
    bad = forecast_frame(DAY + HALF_HOUR)
    bad.loc[2, "valid_time"] = pd.NaT
    with pytest.raises(fti.SchemaError, match="primary key column 'valid_time' has 1 null"):
        fg.insert(bad)
    assert len(fg.read()) == 8
    assert len(fg.commit_details()) == 1


def test_a_fractional_key_is_still_refused(fs):
    fg = fs.get_or_create_feature_group("readings", version=1, primary_key=["sensor"], event_time="t")
    frame = pd.DataFrame({"sensor": [1.5], "t": [DAY], "value": [1.0]})
    with pytest.raises(fti.SchemaError, match="keys must be whole numbers, text or datetimes"):
        fg.insert(frame)


@pytest.mark.parametrize("key", [
    pd.Timestamp("2024-03-01 01:30", tz="UTC"),
    pd.Timestamp("2024-03-01 01:30"),  # naive: taken as UTC
    dt.datetime(2024, 3, 1, 1, 30),
    dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=11))),  # the same instant in Melbourne
    np.datetime64("2024-03-01T01:30"),
], ids=["aware", "naive", "datetime", "other-zone", "numpy"])
def test_online_lookup_by_a_time_key_finds_the_newest_issue(fs, key):
    fg = forecasts_group(fs, online=True)
    fg.insert(forecast_frame(DAY))
    fg.insert(forecast_frame(DAY + pd.Timedelta(hours=1)))
    view = fs.get_or_create_feature_view("latest_forecast", 1, query=fg.select(["temperature"]))
    # 01:30 is step 3 of the 00:00 issue and step 1 of the 01:00 issue: online serves the newest.
    assert view.get_feature_vector({"region": "VIC", "valid_time": key}) == [101.0]
    assert view.get_feature_vector({"region": "VIC", "valid_time": DAY + pd.Timedelta(days=9)}) == [None]


# -- joins as of the issue time (features) and of the target time (labels) ----------------------------


def oracle_forecast(forecasts: pd.DataFrame, region: str, valid: pd.Timestamp, as_of: pd.Timestamp) -> float | None:
    """The value of the latest forecast for ``valid`` issued at or before ``as_of``, by looping over rows."""
    best = None
    for row in forecasts.itertuples(index=False):
        if row.region == region and row.valid_time == valid and row.issue_time <= as_of:
            if best is None or row.issue_time > best.issue_time:
                best = row
    return None if best is None else best.temperature


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_features_are_joined_as_of_the_issue_time(fs, seed):
    rng = np.random.default_rng(seed)
    fg = forecasts_group(fs)
    # Issues at random hours over two days, inserted in random order, some in two commits.
    issues = sorted({DAY + pd.Timedelta(hours=int(h)) for h in rng.integers(0, 48, size=7)})
    frames = [forecast_frame(issue, steps=int(rng.integers(4, 60)), offset=float(rng.normal())) for issue in issues]
    for position in rng.permutation(len(frames)):
        fg.insert(frames[position])
    forecasts = pd.concat(frames, ignore_index=True)
    # Observations: target half-hours, each forecast from a cutoff a random number of hours before it.
    targets = pd.DataFrame({"region": "VIC", "target_time": [DAY + HALF_HOUR * int(k) for k in rng.choice(150, 40,
                                                                                                        replace=False)]})
    targets["issue_time"] = targets["target_time"] - pd.to_timedelta(rng.integers(0, 30, size=40), unit="h")
    targets["slot"] = np.arange(40)
    query = targets_group(fs, targets).select_all().join(
        fg.select(["temperature"]), left_on=["region", "target_time"], right_on=["region", "valid_time"])
    result = query.read()
    assert len(result) == len(targets)
    expected = [oracle_forecast(forecasts, "VIC", row.target_time, row.issue_time) for row in result.itertuples()]
    got = [None if pd.isna(value) else value for value in result["temperature"]]
    assert got == pytest.approx(expected)
    assert any(value is None for value in expected) and any(value is not None for value in expected)
    # Nothing issued after the cutoff was used.
    joined = result.merge(forecasts, left_on=["target_time", "temperature"], right_on=["valid_time", "temperature"],
                          suffixes=("", "_forecast"))
    assert (joined["issue_time_forecast"] <= joined["issue_time"]).all()


def test_a_label_is_joined_as_of_the_target_time(fs):
    demand = fs.get_or_create_feature_group("demand", version=1, primary_key=["region"], event_time="timestamp")
    arrived = pd.date_range(DAY, periods=30, freq="30min")  # the demand up to 14:30 has arrived
    demand.insert(pd.DataFrame({"region": "VIC", "timestamp": arrived, "demand": np.arange(30, dtype=float)}))
    # Forecast at 12:00 for 12:00..17:30: six half-hours have an outcome, the rest not yet.
    issue = DAY + pd.Timedelta(hours=12)
    targets = targets_group(fs, target_rows(issue, issue, 12))
    label = demand.select(["demand"])
    honest = targets.select_all().join(label, left_on=["region", "target_time"], right_on=["region", "timestamp"],
                                       observation_time="target_time").read()
    assert honest["demand"].iloc[:6].tolist() == [24.0, 25.0, 26.0, 27.0, 28.0, 29.0]
    # Not arrived: null, never the last value before (the key includes the time).
    assert honest["demand"].iloc[6:].isna().all()
    # Joined as of the issue time instead, the label would not exist yet: the default is for features.
    as_of_issue = targets.select_all().join(label, left_on=["region", "target_time"],
                                            right_on=["region", "timestamp"]).read()
    assert as_of_issue["demand"].tolist()[:1] == [24.0]
    assert as_of_issue["demand"].iloc[1:].isna().all()


def test_the_same_column_joined_two_ways_is_the_leak_lesson(fs):
    # Observed temperature (event time: when it was measured) and a forecast of it.
    observed = fs.get_or_create_feature_group("observed", version=1, primary_key=["region"], event_time="timestamp")
    times = pd.date_range(DAY, periods=48, freq="30min")
    observed.insert(pd.DataFrame({"region": "VIC", "timestamp": times, "temperature": np.arange(48, dtype=float)}))
    issue = DAY + pd.Timedelta(hours=6)
    targets = targets_group(fs, target_rows(issue, issue + HALF_HOUR, 4))
    keys = {"left_on": ["region", "target_time"], "right_on": ["region", "timestamp"]}
    oracle = targets.select_all().join(observed.select(["temperature"]), observation_time="target_time", **keys)
    honest = targets.select_all().join(observed.select(["temperature"]), **keys)
    # The oracle sees the temperature at each target time; as of the issue time, the values are not known yet.
    assert oracle.read()["temperature"].tolist() == [13.0, 14.0, 15.0, 16.0]
    assert honest.read()["temperature"].isna().all()


def test_observation_time_respects_the_ttl(fs):
    readings = fs.get_or_create_feature_group("readings", version=1, primary_key=["region"], event_time="timestamp",
                                              ttl=dt.timedelta(hours=1))
    readings.insert(pd.DataFrame({"region": "VIC", "timestamp": [DAY], "value": [1.0]}))
    targets = targets_group(fs, target_rows(DAY, DAY, 4))  # targets 00:00..01:30
    result = targets.select_all().join(readings.select(["value"]), on=["region"], observation_time="target_time").read()
    assert [None if pd.isna(v) else v for v in result["value"]] == [1.0, 1.0, 1.0, None]


def test_observation_time_from_a_joined_group(fs):
    # The time to join as of may come from an earlier join (e.g. a dispatch time looked up per target).
    targets = targets_group(fs, target_rows(DAY, DAY, 3))
    dispatch = fs.get_or_create_feature_group("dispatch", version=1, primary_key=["region", "target_time"])
    dispatch.insert(pd.DataFrame({"region": "VIC", "target_time": pd.date_range(DAY, periods=3, freq="30min"),
                                  "decided_at": DAY + pd.to_timedelta([2, 0, 5], unit="h")}))
    fg = forecasts_group(fs)
    for hour in (0, 1, 2, 3, 4):
        fg.insert(forecast_frame(DAY + pd.Timedelta(hours=hour), steps=1).assign(valid_time=DAY))
    query = (targets.select_all().join(dispatch.select(["decided_at"]))
             .join(fg.select(["temperature"]), on=["region"], observation_time="decided_at"))
    # Each target takes the forecast issued last before its own decision time (hours 2, 0 and 4).
    assert query.read()["temperature"].tolist() == [200.0, 0.0, 400.0]


@pytest.mark.parametrize("observation_time, message", [
    ("nowhere", "'nowhere' is not a column of the query so far"),
    ("slot", "'slot' holds BIGINT, not datetimes"),
    (["target_time"], "observation_time must be a column name"),
])
def test_a_bad_observation_time_is_refused(fs, observation_time, message):
    targets = targets_group(fs, target_rows(DAY, DAY, 2))
    fg = forecasts_group(fs)
    fg.insert(forecast_frame(DAY))
    with pytest.raises(fti.QueryError, match=message) as info:
        targets.select_all().join(fg.select(["temperature"]), left_on=["region", "target_time"],
                                  right_on=["region", "valid_time"], observation_time=observation_time)
    assert "forecasts" in str(info.value)


def test_observation_time_needs_an_event_time_on_the_joined_group(fs):
    targets = targets_group(fs, target_rows(DAY, DAY, 2))
    regions = fs.get_or_create_feature_group("regions", version=1, primary_key=["region"])
    regions.insert(pd.DataFrame({"region": ["VIC"], "population": [6_500_000]}))
    with pytest.raises(fti.QueryError, match="needs an event time on feature group 'regions' v1"):
        targets.select_all().join(regions.select(["population"]), observation_time="target_time")


def test_a_feature_view_keeps_its_observation_times(fs):
    demand = fs.get_or_create_feature_group("demand", version=1, primary_key=["region"], event_time="timestamp")
    demand.insert(pd.DataFrame({"region": "VIC", "timestamp": pd.date_range(DAY, periods=4, freq="30min"),
                                "demand": [1.0, 2.0, 3.0, 4.0]}))
    targets = targets_group(fs, target_rows(DAY - pd.Timedelta(hours=1), DAY, 4))
    query = targets.select_all().join(demand.select(["demand"]), left_on=["region", "target_time"],
                                      right_on=["region", "timestamp"], observation_time="target_time")
    assert query.to_dict()["parts"][1]["observation_time"] == "target_time"
    # A join without the option is described exactly as before it existed.
    assert "observation_time" not in query.to_dict()["parts"][0]
    fs.get_or_create_feature_view("demand_view", 1, query=query, labels=["demand"])
    again = fti.get_feature_store().get_feature_view("demand_view", 1)
    assert again.query == query
    X, y = again.training_data()
    assert y.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert list(X.columns) == ["slot"]
    # Redefining it with the label joined as of the issue time is a different definition.
    other = targets.select_all().join(demand.select(["demand"]), left_on=["region", "target_time"],
                                      right_on=["region", "timestamp"])
    with pytest.raises(fti.QueryError, match="different definition"):
        fs.get_or_create_feature_view("demand_view", 1, query=other, labels=["demand"])
    rebuilt = fti.store.query.Query.from_dict(query.to_dict(), fs)
    assert rebuilt == query


# -- many predictions per run -----------------------------------------------------------------------


def predictions_frame(issue: pd.Timestamp, version: int, level: float) -> pd.DataFrame:
    targets = pd.date_range(issue, periods=48, freq="30min")
    return pd.DataFrame({"region": "VIC", "target_time": targets, "issue_time": issue,
                         "predicted": level + np.arange(48) / 10, "model_version": version})


def test_a_run_writes_48_predictions_and_a_rerun_changes_nothing(fs):
    fg = fs.get_or_create_feature_group("predictions", version=1, primary_key=["region", "target_time"],
                                        event_time="issue_time")
    first_issue, second_issue = DAY, DAY + pd.Timedelta(days=1)
    assert fg.insert(predictions_frame(first_issue, 1, 5.0)).rows_inserted == 48
    assert fg.insert(predictions_frame(first_issue, 1, 5.0)).rows_unchanged == 48
    # A new model version re-running the same day replaces that day's 48 predictions, keeping the old ones.
    replaced = fg.insert(predictions_frame(first_issue, 2, 5.5))
    assert (replaced.rows_inserted, replaced.rows_updated) == (0, 48)
    assert fg.insert(predictions_frame(second_issue, 2, 6.0)).rows_inserted == 48
    stored = fg.read()
    assert len(stored) == 96
    assert stored.groupby("issue_time")["model_version"].unique().map(list).tolist() == [[2], [2]]
    before = fg.read(as_of=fg.commit_details()["commit_id"].iloc[0])
    assert before["model_version"].tolist() == [1] * 48
    # One run's predictions, selected by issue time.
    one_run = fg.select_all().read(start_time=second_issue, end_time=second_issue + pd.Timedelta(days=1))
    assert len(one_run) == 48
    assert one_run["target_time"].min() == second_issue


def test_predictions_joined_with_what_happened_give_a_hindcast(fs):
    predictions = fs.get_or_create_feature_group("predictions", version=1, primary_key=["region", "target_time"],
                                                 event_time="issue_time")
    predictions.insert(predictions_frame(DAY, 1, 5.0))
    demand = fs.get_or_create_feature_group("demand", version=1, primary_key=["region"], event_time="timestamp")
    arrived = pd.date_range(DAY, periods=40, freq="30min")
    demand.insert(pd.DataFrame({"region": "VIC", "timestamp": arrived, "demand": np.full(40, 5.0)}))
    hindcast = predictions.select_all().join(demand.select(["demand"]), left_on=["region", "target_time"],
                                             right_on=["region", "timestamp"], observation_time="target_time").read()
    known = hindcast.dropna(subset=["demand"])
    assert len(known) == 40
    assert (known["predicted"] - known["demand"]).abs().max() == pytest.approx(3.9)
