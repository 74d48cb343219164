"""Forecast evaluation: seasonal naive, MASE and friends, rolling-origin backtests, intervals, the gate.

Each measure is checked against a value worked out by hand on a tiny series, and
the backtest against what it must never do: train on an outcome from after its
origin, or test on a forecast issued outside its window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fti
from fti.exceptions import ParameterError, PromotionError
from fti.teach import forecasting

HALF_HOUR = pd.Timedelta(minutes=30)
START = pd.Timestamp("2024-01-01", tz="UTC")


# -- baselines and measures ----------------------------------------------------------------------


def test_seasonal_naive_repeats_the_last_season():
    history = [1, 2, 3, 4, 5, 6, 7]  # season 3: the last season observed is 5, 6, 7
    assert forecasting.seasonal_naive(history, horizon=7, season=3).tolist() == [5, 6, 7, 5, 6, 7, 5]
    # A season of 1 is the naive forecast: the last value, repeated.
    assert forecasting.seasonal_naive(history, horizon=3, season=1).tolist() == [7, 7, 7]


def test_seasonal_naive_matches_the_textbook_formula():
    rng = np.random.default_rng(3)
    history = rng.normal(size=50)
    season, horizon = 7, 20
    expected = [history[len(history) - 1 + h - season * ((h - 1) // season + 1)] for h in range(1, horizon + 1)]
    assert forecasting.seasonal_naive(history, horizon, season).tolist() == expected


@pytest.mark.parametrize("history, horizon, season, message", [
    ([1, 2], 1, 3, "needs at least 3 past values"),
    ([1, 2, 3], 0, 3, "horizon must be"),
    ([1, 2, 3], 1, 0, "season must be"),
    ([1, 2, 3], 1, True, "season must be"),
])
def test_seasonal_naive_refuses_impossible_requests(history, horizon, season, message):
    with pytest.raises(ParameterError, match=message):
        forecasting.seasonal_naive(history, horizon, season)


def test_error_measures_on_a_small_example():
    actual, predicted = [10.0, 20.0, 40.0], [12.0, 18.0, 30.0]
    assert forecasting.mae(actual, predicted) == pytest.approx(14 / 3)
    assert forecasting.rmse(actual, predicted) == pytest.approx(np.sqrt((4 + 4 + 100) / 3))
    assert forecasting.mape(actual, predicted) == pytest.approx(100 * (0.2 + 0.1 + 0.25) / 3)


@pytest.mark.parametrize("actual, predicted, message", [
    ([1.0, 2.0], [1.0], "2 actual values but 1 predictions"),
    ([], [], "no forecasts to score"),
    ([1.0, np.nan], [1.0, 2.0], "1 actual and 0 predicted values are missing"),
])
def test_error_measures_refuse_unpaired_or_missing_values(actual, predicted, message):
    with pytest.raises(ParameterError, match=message):
        forecasting.mae(actual, predicted)


def test_mape_is_undefined_at_zero():
    with pytest.raises(ParameterError, match="undefined when an actual value is 0"):
        forecasting.mape([0.0, 1.0], [0.5, 1.0])


def test_mase_scale_is_the_in_sample_seasonal_naive_error():
    training = [1.0, 3.0, 2.0, 4.0, 6.0]  # season 2: |2-1|, |4-3|, |6-2| -> mean 2
    assert forecasting.seasonal_naive_scale(training, 2) == pytest.approx(2.0)
    assert forecasting.mase([5.0, 5.0], [4.0, 8.0], training, 2) == pytest.approx(2.0 / 2.0)
    # The seasonal naive method scores exactly 1 on its own training data.
    series = np.random.default_rng(0).normal(size=100).cumsum()
    in_sample = forecasting.mae(series[7:], series[:-7])
    assert in_sample / forecasting.seasonal_naive_scale(series, 7) == pytest.approx(1.0)


def test_mase_scale_pairs_by_time_across_a_gap():
    times = pd.date_range(START, periods=10, freq="30min")
    values = pd.Series(np.arange(10.0) ** 2, index=times)
    gappy = values.drop(times[5])
    # Season 2: each value with the one an hour earlier; pairs touching the gap are left out.
    pairs = [(t, t - 2 * HALF_HOUR) for t in gappy.index if t - 2 * HALF_HOUR in gappy.index]
    expected = np.mean([abs(gappy[a] - gappy[b]) for a, b in pairs])
    assert forecasting.seasonal_naive_scale(gappy, 2) == pytest.approx(expected)
    # Read as a plain sequence, the same values would pair the wrong half-hours.
    assert forecasting.seasonal_naive_scale(gappy.to_numpy(), 2) != pytest.approx(expected)


def test_a_constant_season_has_no_scale():
    with pytest.raises(ParameterError, match="scale is 0"):
        forecasting.seasonal_naive_scale([1.0, 2.0] * 5, 2)
    with pytest.raises(ParameterError, match="needs more than 2 training values"):
        forecasting.seasonal_naive_scale([1.0, 2.0], 2)


def test_forecast_metrics_and_error_table():
    frame = pd.DataFrame({"group": ["a", "a", "b", "b"], "actual": [10.0, 20.0, 10.0, np.nan],
                          "predicted": [11.0, 18.0, 10.5, 3.0]})
    table = forecasting.error_table(frame, "actual", "predicted", "group", scale=2.0)
    assert table["group"].tolist() == ["a", "b"]
    assert table["n"].tolist() == [2, 1]  # the row without an outcome is left out
    assert table["mae"].tolist() == [1.5, 0.5]
    assert table["mase"].tolist() == [0.75, 0.25]
    metrics = forecasting.forecast_metrics([10.0, 20.0], [11.0, 18.0], scale=2.0)
    assert metrics == {"mae": 1.5, "rmse": round(np.sqrt(2.5), 4), "mape": 10.0, "mase": 0.75}
    with pytest.raises(ParameterError, match="needs the training series"):
        forecasting.forecast_metrics([1.0], [1.0])


# -- backtests -----------------------------------------------------------------------------------


def test_rolling_origins_tile_the_weeks_before_the_last():
    folds = forecasting.rolling_origins("2024-03-01", folds=3, step="7D")
    assert [f.number for f in folds] == [1, 2, 3]
    assert folds[-1].end == pd.Timestamp("2024-03-01", tz="UTC")
    assert all(a.end == b.origin for a, b in zip(folds, folds[1:], strict=False))
    assert all(f.end - f.origin == pd.Timedelta(days=7) for f in folds)
    with pytest.raises(ParameterError, match="folds must be"):
        forecasting.rolling_origins("2024-03-01", folds=0)


def daily_rows(days: int = 40) -> pd.DataFrame:
    """A target per half-hour, issued at the midnight before it, with a seasonal demand and its day-lag."""
    targets = pd.date_range(START, periods=48 * days, freq="30min")
    slot = np.arange(len(targets)) % 48
    demand = 5 + np.sin(2 * np.pi * slot / 48) + np.random.default_rng(1).normal(0, 0.1, len(targets))
    frame = pd.DataFrame({"target_time": targets, "issue_time": targets.floor("D"), "demand": demand})
    frame["lag_48"] = frame["demand"].shift(48)
    return frame.iloc[48:].reset_index(drop=True)


def test_backtest_trains_only_on_known_outcomes_and_tests_its_window():
    rows = daily_rows()
    folds = forecasting.rolling_origins(START + pd.Timedelta(days=40), folds=3, step="7D")
    seen = []

    def spy(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        seen.append((train["target_time"].max(), test["issue_time"].min(), test["issue_time"].max()))
        return np.full(len(test), train["demand"].mean())

    result = forecasting.backtest(rows, {"mean": spy, "day before": lambda train, test: test["lag_48"]}, folds,
                                  target="demand", target_time="target_time", issue_time="issue_time")
    for fold, (last_trained, first_issue, last_issue) in zip(folds, seen, strict=True):
        assert last_trained < fold.origin
        assert fold.origin <= first_issue and last_issue < fold.end
    assert len(result.scores) == 2 * len(folds)
    # Each fold's MASE is scaled by the seasonal naive error of that fold's own training rows.
    first = result.model_scores("day before").iloc[0]
    train = rows[rows["target_time"] < folds[0].origin].set_index("target_time")["demand"]
    assert first["scale"] == pytest.approx(forecasting.seasonal_naive_scale(train, 48), abs=1e-4)
    assert result.summary().index[0] == "day before"  # the seasonal model beats the mean here
    assert set(result.predictions.columns) >= {"model", "fold", "actual", "predicted", "error"}


def test_backtest_refuses_empty_folds_and_short_answers():
    rows = daily_rows(10)
    too_early = forecasting.rolling_origins(START + pd.Timedelta(days=1), folds=1, step="1D")
    with pytest.raises(ParameterError, match="has 0 training"):
        forecasting.backtest(rows, {"x": lambda a, b: b["lag_48"]}, too_early, target="demand",
                             target_time="target_time", issue_time="issue_time")
    folds = forecasting.rolling_origins(START + pd.Timedelta(days=10), folds=1, step="2D")
    with pytest.raises(ParameterError, match="returned 1 forecasts"):
        forecasting.backtest(rows, {"short": lambda a, b: [1.0]}, folds, target="demand",
                             target_time="target_time", issue_time="issue_time")
    with pytest.raises(ParameterError, match="no column"):
        forecasting.backtest(rows, {"x": lambda a, b: b["lag_48"]}, folds, target="load",
                             target_time="target_time", issue_time="issue_time")


# -- intervals -----------------------------------------------------------------------------------------


def test_intervals_from_past_errors_cover_what_they_say():
    rng = np.random.default_rng(7)
    groups = pd.Series(np.repeat([0, 1], 5000), name="lead_hour")
    errors = pd.Series(np.concatenate([rng.normal(0, 1, 5000), rng.normal(0, 3, 5000)]))
    table = forecasting.interval_table(errors, groups, coverage=0.8)
    assert table.columns.tolist() == ["lead_hour", "lower", "upper", "n"]
    assert table["upper"].iloc[1] > 2.5 * table["upper"].iloc[0]  # wider where the errors were larger
    point = np.zeros(10000)
    lower, upper = forecasting.apply_intervals(point, groups, table)
    fresh = np.concatenate([rng.normal(0, 1, 5000), rng.normal(0, 3, 5000)])
    assert 0.78 < np.mean((fresh >= lower) & (fresh <= upper)) < 0.82
    with pytest.raises(ParameterError, match="no interval for lead_hour"):
        forecasting.apply_intervals([1.0], [5], table)
    with pytest.raises(ParameterError, match="coverage must be"):
        forecasting.interval_table(errors, groups, coverage=1.5)


# -- the gate ------------------------------------------------------------------------------------------


def scores(mase: list[float], first: str = "2024-03-01") -> pd.DataFrame:
    origins = pd.date_range(first, periods=len(mase), freq="7D", tz="UTC")
    return pd.DataFrame({"model": "m", "fold": range(1, len(mase) + 1), "origin": origins, "mase": mase})


def saved(mr, metrics: dict):
    model = mr.create_model("demand", metrics=metrics)
    return model.save({"weights": [1, 2, 3]})


def test_the_first_model_needs_a_mase_below_one(mr):
    bad = saved(mr, {"mase": 1.2})
    decision = forecasting.promote_if_better(mr, bad, scores([1.1, 1.3]))
    assert not decision.promoted and "not below 1" in str(decision)
    assert mr.get_aliases("demand") == {}
    good = saved(mr, {"mase": 0.4})
    decision = forecasting.promote_if_better(mr, good, scores([0.3, 0.5]))
    assert decision.promoted and decision.candidate_score == 0.4
    assert mr.get_aliases("demand") == {"production": good.version}


def test_a_candidate_must_beat_production_on_the_same_folds(mr):
    first = saved(mr, {"mase": 0.4})
    forecasting.promote_if_better(mr, first, scores([0.4, 0.4]))
    tie = saved(mr, {"mase": 0.4})
    decision = forecasting.promote_if_better(mr, tie, scores([0.4, 0.4]), scores([0.4, 0.4]))
    assert not decision.promoted and f"kept v{first.version}" in str(decision)
    better = saved(mr, {"mase": 0.35})
    decision = forecasting.promote_if_better(mr, better, scores([0.3, 0.4]), scores([0.4, 0.4]))
    assert decision.promoted
    assert mr.get_aliases("demand") == {"production": better.version}
    with pytest.raises(PromotionError, match="different folds"):
        forecasting.promote_if_better(mr, saved(mr, {}), scores([0.1, 0.1]), scores([0.4, 0.4], first="2024-05-01"))
    with pytest.raises(PromotionError, match="backtest it on the candidate's folds"):
        forecasting.promote_if_better(mr, saved(mr, {}), scores([0.1, 0.1]))
    assert mr.get_aliases("demand") == {"production": better.version}


# -- monitoring ---------------------------------------------------------------------------------------


def test_verdict_on_live_error_and_drift():
    days = pd.DataFrame({"day": ["a", "b", "c"], "n": [48, 48, 48], "mase": [0.3, 0.35, 0.4]})
    calm = pd.DataFrame({"feature": ["t"], "drifted": [False]})
    fine = forecasting.forecast_verdict(days, calm, max_mase=0.5)
    assert not fine.retrain and "0.350, below 0.500" in str(fine)
    worse = forecasting.forecast_verdict(days.assign(mase=[0.6, 0.7, 0.8]), calm, max_mase=0.5, window=2)
    assert worse.retrain and "last 2 day(s) is 0.750" in worse.reason
    drifted = forecasting.forecast_verdict(days, calm.assign(drifted=True), max_mase=0.5)
    assert drifted.retrain and "drift in t" in drifted.reason
    empty = forecasting.forecast_verdict(days.iloc[:0], calm, max_mase=0.5)
    assert not empty.retrain and not empty.enough_data


def test_range_table_counts_values_the_model_never_saw():
    reference = pd.DataFrame({"t": [10.0, 20.0, 30.0]})
    current = pd.DataFrame({"t": [15.0, 25.0, 35.0, 40.0]})
    table = forecasting.range_table(reference, current, ["t"], max_outside=0.25)
    row = table.iloc[0]
    assert (row["min"], row["max"], row["outside"]) == (10.0, 30.0, 0.5)
    assert bool(row["drifted"])
    assert not forecasting.range_table(reference, current.head(2), ["t"])["drifted"].iloc[0]


# -- leaks -------------------------------------------------------------------------------------------


def test_lookahead_columns_finds_a_window_that_includes_the_target():
    times = pd.date_range(START, periods=48 * 5, freq="30min")
    demand = pd.Series(np.random.default_rng(2).normal(5, 1, len(times)), index=times)
    cutoff = START + pd.Timedelta(days=4)
    targets = pd.date_range(cutoff, periods=48, freq="30min")

    def features(series: pd.Series) -> pd.DataFrame:
        day_mean_at_cutoff = series.rolling(48).mean().shift(1).reindex(series.index.floor("D")).to_numpy()
        return pd.DataFrame({
            "leaky_mean": series.rolling(48).mean(),  # includes the target itself
            "shifted_mean": series.rolling(48).mean().shift(1),  # ends just before the target: still after the cutoff
            "honest_mean": day_mean_at_cutoff,  # ends at the target's cutoff
            "lag_48": series.shift(48),
        }, index=series.index)

    assert forecasting.lookahead_columns(features, demand, cutoff, targets) == ["leaky_mean", "shifted_mean"]
    with pytest.raises(ParameterError, match="indexed by time"):
        forecasting.lookahead_columns(features, demand.reset_index(drop=True), cutoff, targets)


def test_teach_exposes_the_module():
    assert fti.teach.forecasting is forecasting
