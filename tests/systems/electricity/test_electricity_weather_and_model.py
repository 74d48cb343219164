"""Simulated weather forecasts and the demand model: deterministic, as wrong as intended, saved and loaded whole."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fti.exceptions import ParameterError, ParameterTypeError
from systems import electricity


@pytest.fixture(scope="module")
def observed() -> pd.Series:
    return electricity.load_demand().set_index("timestamp")["temperature_c"]


def test_a_forecast_is_the_same_every_time_and_differs_by_day(observed):
    cutoff = electricity.cutoff("2014-09-01")
    first = electricity.issue_forecast(observed, cutoff)
    pd.testing.assert_frame_equal(first, electricity.issue_forecast(observed, cutoff))
    other = electricity.issue_forecast(observed, cutoff + pd.Timedelta(days=1))
    assert not np.allclose(first["temperature_c"].to_numpy()[48:], other["temperature_c"].to_numpy()[:48])
    assert len(first) == 96 and (first["issue_time"] == cutoff).all()
    assert first["lead_hours"].tolist() == [h / 2 for h in range(96)]
    assert list(first.columns) == ["region", "valid_time", "issue_time", "lead_hours", "temperature_c"]


def test_forecast_error_grows_with_lead_time_as_specified(observed):
    skill = electricity.ForecastSkill()
    forecasts = electricity.issue_forecasts(observed, electricity.cutoffs("2014-01-01", until="2014-12-01"))
    error = forecasts["temperature_c"] - observed.loc[forecasts["valid_time"]].to_numpy()
    spread = error.groupby(forecasts["lead_hours"]).std()
    for lead in (0.0, 12.0, 24.0, 47.5):
        expected = skill.standard_deviation(np.array([lead]))[0]
        assert spread[lead] == pytest.approx(expected, rel=0.2), f"lead {lead} h"
    assert abs(error.mean()) < 0.2  # no bias
    # Consecutive half-hours err together (a warm afternoon forecast is warm all afternoon).
    wide = error.to_numpy().reshape(-1, 96)
    assert np.corrcoef(wide[:, 40], wide[:, 41])[0, 1] > 0.7


def test_the_last_forecasts_of_the_year_stop_with_the_data(observed):
    last = electricity.issue_forecast(observed, electricity.cutoff("2014-12-30"))
    assert len(last) == 48 and last["valid_time"].max() == pd.Timestamp("2014-12-31 23:30", tz="UTC")
    with pytest.raises(ParameterError, match="no observed temperature at the issue time"):
        electricity.issue_forecast(observed, electricity.cutoff("2014-12-31"))


@pytest.mark.parametrize("arguments, error", [
    ({"base": -0.1}, ParameterError), ({"persistence": 1.0}, ParameterError), ({"growth": "a lot"}, ParameterTypeError),
])
def test_impossible_forecast_skills_are_refused(arguments, error):
    with pytest.raises(error):
        electricity.ForecastSkill(**arguments)


@pytest.mark.parametrize("arguments", [{"max_depth": 0}, {"learning_rate": 0.0}, {"subsample": 1.5},
                                       {"n_estimators": 2.5}])
def test_impossible_model_parameters_are_refused(arguments):
    with pytest.raises((ParameterError, ParameterTypeError)):
        electricity.ModelParams(**arguments)


def training_rows(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    issue = pd.Timestamp("2014-03-01", tz="UTC")
    targets = issue + pd.to_timedelta(np.arange(n) % 48 * 30, unit="min")
    frame = pd.DataFrame({"target_time": targets, "issue_time": issue, "x": rng.normal(size=n),
                          "observed_x": rng.normal(size=n)})
    frame["y"] = 3 * frame["x"] + 5
    return frame


def test_a_forecaster_saved_and_loaded_forecasts_the_same(tmp_path):
    rows = training_rows()
    intervals = pd.DataFrame({"lead_hour": range(24), "lower": -0.5, "upper": 0.25, "n": 10})
    params = electricity.ModelParams(n_estimators=30, max_depth=3)
    forecaster = electricity.Forecaster.fit(rows, ["x"], "y", params, intervals)
    folder = forecaster.save(tmp_path / "saved")
    assert sorted(p.name for p in folder.iterdir()) == ["forecaster.json", "model.ubj"]
    again = electricity.Forecaster.load(folder)
    assert again.features == ["x"] and again.params == params and again.coverage == 0.8
    np.testing.assert_array_equal(again.predict(rows), forecaster.predict(rows))
    forecast = again.forecast(rows.head(48))
    assert list(forecast.columns) == ["lead_hours", "predicted_gw", "lower_gw", "upper_gw"]
    assert (forecast["lower_gw"] - forecast["predicted_gw"]).round(4).eq(-0.5).all()
    assert forecast["lead_hours"].iloc[47] == 23.5
    with pytest.raises(ParameterError, match="needs the column"):
        again.predict(rows.drop(columns=["x"]))
    with pytest.raises(ParameterError, match="holds no saved forecaster"):
        electricity.Forecaster.load(tmp_path)


def test_fit_predict_can_read_a_feature_from_another_column():
    rows = training_rows()
    train, test = rows.iloc[:300], rows.iloc[300:]
    params = electricity.ModelParams(n_estimators=50, max_depth=3)
    same = electricity.fit_predict(params, ["x"], "y")(train, test)
    swapped = electricity.fit_predict(params, ["x"], "y", test_inputs={"x": "observed_x"})(train, test)
    assert np.abs(same - test["y"]).mean() < 0.5
    # Fed another column than it learnt from, the model forecasts something else entirely.
    assert np.abs(swapped - test["y"]).mean() > 1.0


def test_lead_hour():
    issue = pd.Series(pd.to_datetime(["2014-03-01 00:00"] * 3, utc=True))
    target = pd.Series(pd.to_datetime(["2014-03-01 00:00", "2014-03-01 00:30", "2014-03-01 23:30"], utc=True))
    assert electricity.lead_hour(target, issue).tolist() == [0, 0, 23]
