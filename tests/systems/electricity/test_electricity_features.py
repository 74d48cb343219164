"""Calendar and demand features: the right values, and never a value from after the cutoff."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fti.teach import forecasting
from systems import electricity


@pytest.fixture(scope="module")
def demand() -> pd.Series:
    return electricity.load_demand().set_index("timestamp")["demand_gw"]


def test_calendar_of_a_holiday_and_a_weekend():
    cup, saturday = electricity.cutoff("2014-11-03"), electricity.cutoff("2014-11-07")  # Tue 4 Nov, Sat 8 Nov
    calendar = electricity.calendar_features([cup, saturday])
    assert len(calendar) == 96
    assert calendar["target_time"].iloc[0] == cup and calendar["issue_time"].iloc[47] == cup
    assert calendar["slot"].tolist() == list(range(48)) * 2
    first, second = calendar.iloc[0], calendar.iloc[48]
    assert (first["day_of_week"], first["work_day"], first["holiday"]) == (1, 0, 1)  # Melbourne Cup Day
    assert (second["day_of_week"], second["work_day"], second["holiday"]) == (5, 0, 0)
    assert set(calendar.columns) == {"region", "target_time", "issue_time", *electricity.CALENDAR_FEATURES}


def test_demand_features_of_one_cutoff(demand):
    cutoff = electricity.cutoff("2014-09-01")
    features = electricity.demand_features(demand, cutoff)
    assert len(features) == 48 and (features["issue_time"] == cutoff).all()
    row = features.iloc[30]  # the target 15:00 on 2 September
    target = row["target_time"]
    assert target == pd.Timestamp("2014-09-02 15:00", tz="UTC")
    assert row["lag_48"] == demand[target - pd.Timedelta(days=1)]
    assert row["lag_336"] == demand[target - pd.Timedelta(days=7)]
    assert row["same_slot_mean_7d"] == pytest.approx(np.mean([demand[target - pd.Timedelta(days=k)]
                                                              for k in range(1, 8)]))
    last_day = demand[(demand.index >= cutoff - pd.Timedelta(days=1)) & (demand.index < cutoff)]
    assert len(last_day) == 48
    assert row["mean_last_day"] == pytest.approx(last_day.mean())
    assert row["max_last_day"] == last_day.max()
    last_week = demand[(demand.index >= cutoff - pd.Timedelta(days=7)) & (demand.index < cutoff)]
    assert row["mean_last_week"] == pytest.approx(last_week.mean())


@pytest.mark.parametrize("run_date", ["2014-02-10", "2014-06-30", "2014-09-14", "2014-12-24"])
def test_no_demand_feature_reads_past_its_cutoff(demand, run_date):
    cutoff = electricity.cutoff(run_date)
    targets, _ = electricity.target_times(cutoff)

    def features(series: pd.Series) -> pd.DataFrame:
        return electricity.demand_features(series, cutoff).set_index("target_time")[list(electricity.DEMAND_FEATURES)]

    # Every demand at or after the cutoff is scrambled; no feature of the cutoff's targets may change.
    assert forecasting.lookahead_columns(features, demand, cutoff, targets) == []


def test_missing_history_gives_missing_features_not_wrong_ones(demand):
    cutoff = electricity.cutoff("2014-09-01")
    gappy = demand.drop(pd.Timestamp("2014-09-01 12:00", tz="UTC"))
    features = electricity.demand_features(gappy, cutoff)
    # The day's statistics and the lag of 12:00 cannot be computed; the other lags can.
    assert features["mean_last_day"].isna().all() and features["max_last_day"].isna().all()
    assert features["mean_last_week"].isna().all()
    lagged = features.set_index("target_time")["lag_48"]
    assert np.isnan(lagged[pd.Timestamp("2014-09-02 12:00", tz="UTC")])
    assert lagged.notna().sum() == 47
    # The first week of 2014 has no week-old lag: missing, not zero.
    early = electricity.demand_features(demand, electricity.cutoff("2014-01-03"))
    assert early["lag_336"].isna().all() and early["lag_48"].notna().all()


def test_many_cutoffs_at_once_equal_one_at_a_time(demand):
    cutoffs = electricity.cutoffs("2014-05-01", until="2014-05-05")
    together = electricity.demand_features(demand, cutoffs)
    apart = pd.concat([electricity.demand_features(demand, c) for c in cutoffs], ignore_index=True)
    pd.testing.assert_frame_equal(together, apart)
