"""The electricity data: loading and checking the file, the calendar of holidays, cutoffs and arrivals."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from fti.exceptions import ParameterError, SchemaError
from systems import electricity

HEADER = "timestamp,demand_gw,work_day,temperature_c\n"


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return electricity.load_demand()


def test_the_whole_year_loads_on_its_half_hour_grid(data):
    assert len(data) == 17520
    assert list(data.columns) == ["region", "timestamp", "demand_gw", "temperature_c", "work_day"]
    assert str(data["timestamp"].dtype) == "datetime64[us, UTC]"
    assert data["timestamp"].iloc[0] == pd.Timestamp("2014-01-01", tz="UTC")
    assert data["timestamp"].diff().dropna().eq(electricity.STEP).all()
    assert set(data["region"]) == {"VIC"}
    assert 2.5 < data["demand_gw"].min() < data["demand_gw"].max() < 10


def test_the_holidays_are_the_data_s_non_working_weekdays(data):
    daily = data.groupby(data["timestamp"].dt.date).agg(work_day=("work_day", "first"))
    weekdays = [day for day in daily.index if day.weekday() < 5]
    non_working = [day for day in weekdays if daily.loc[day, "work_day"] == 0]
    assert non_working == list(electricity.HOLIDAYS)
    calendar = electricity.calendar_features(pd.date_range("2014-01-01", "2014-12-31", freq="D", tz="UTC"))
    merged = calendar.merge(data, left_on="target_time", right_on="timestamp", suffixes=("", "_data"))
    assert len(merged) == 17520
    assert (merged["work_day"] == merged["work_day_data"]).all()


@pytest.mark.parametrize("body, message", [
    ("2014-01-01 00:00:00,4.0,1\n", "missing column"),
    ("2014-01-01 00:00:00,4.0,1,20\n2014-01-01 00:61:00,4.0,1,20\n", "not a 'YYYY-MM-DD HH:MM:SS' time at line 3"),
    ("2014-01-01 00:00:00,4.0,1,20\n2014-01-01 00:30:00,-4.0,1,20\n", "'demand_gw' must be a number between"),
    ("2014-01-01 00:00:00,4.0,1,20\n2014-01-01 00:30:00,,1,20\n", "'demand_gw' .* got nan at line 3"),
    ("2014-01-01 00:00:00,4.0,1,20\n2014-01-01 01:30:00,4.0,1,20\n", "2 half-hour\\(s\\) missing"),
    ("2014-01-01 00:00:00,4.0,1,20\n2014-01-01 00:00:00,4.0,1,20\n", "appear twice"),
    ("2014-01-01 00:00:00,4.0,1,20\n2014-01-01 00:40:00,4.0,1,20\n", "not on the half-hour"),
    ("2014-01-01 00:00:00,4.0,2,20\n", "'work_day' must be a number between 0 and 1"),
])
def test_a_damaged_file_is_refused_with_its_line(tmp_path, body, message):
    path = tmp_path / "demand.csv"
    header = HEADER if "missing column" not in message else "timestamp,demand_gw,work_day\n"
    path.write_text(header + body)
    with pytest.raises(SchemaError, match=message) as info:
        electricity.load_demand(path)
    assert str(path) in str(info.value)


def test_a_missing_file_says_where_the_kit_keeps_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="elecdemand_vic_2014.csv"):
        electricity.load_demand(tmp_path / "nothing.csv")


def test_cutoffs_and_arrivals(data):
    assert electricity.cutoff("2014-09-01") == pd.Timestamp("2014-09-02", tz="UTC")
    assert electricity.cutoff(dt.date(2014, 12, 31)) == pd.Timestamp("2015-01-01", tz="UTC")
    cutoffs = electricity.cutoffs("2014-01-01", until="2014-01-05")
    assert list(cutoffs.day) == [2, 3, 4, 5]
    day = electricity.arrivals(data, "2014-09-01")
    assert len(day) == 48 and day["timestamp"].dt.date.eq(dt.date(2014, 9, 1)).all()
    before = electricity.history(data, until="2014-09-01")
    assert before["timestamp"].max() == pd.Timestamp("2014-08-31 23:30", tz="UTC")
    for bad in ("2013-12-31", "2015-01-01"):
        with pytest.raises(ParameterError, match="outside the data"):
            electricity.cutoff(bad)
    with pytest.raises(ParameterError, match="not a date"):
        electricity.cutoff("1 September")
    with pytest.raises(ParameterError, match="must come before"):
        electricity.cutoffs("2014-03-02", until="2014-03-01")


def test_the_grid_check_sees_a_missing_half_hour_the_suite_cannot(data):
    day = electricity.arrivals(data, "2014-09-01")
    electricity.check_half_hour_grid(day, "timestamp", "a day", start=electricity.day_start("2014-09-01"),
                                     end=electricity.cutoff("2014-09-01"))
    with pytest.raises(SchemaError, match="1 half-hour\\(s\\) missing, e.g. 2014-09-01 23:30"):
        electricity.check_half_hour_grid(day.iloc[:-1], "timestamp", "a day",
                                         end=electricity.cutoff("2014-09-01"))
