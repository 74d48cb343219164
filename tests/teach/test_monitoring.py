"""fti.teach.monitoring: population stability index, drift table, hindcast and the retrain verdict."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from fti.exceptions import ParameterError
from fti.teach.monitoring import MIN_ROWS, Verdict, drift_table, hindcast, population_stability_index, verdict
from systems import titanic

# --------------------------------------------------------------------------- population stability index


def test_psi_is_zero_for_identical_samples():
    rng = np.random.default_rng(0)
    numbers = pd.Series(rng.normal(30, 10, 500), name="age")
    numbers[::17] = np.nan  # missing values on both sides, in the same share
    words = pd.Series(rng.choice(["female", "male"], 300), name="sex")
    whole = pd.Series(rng.integers(0, 4, 300), name="sibsp")
    for series in (numbers, words, whole):
        assert population_stability_index(series, series.copy()) == pytest.approx(0.0, abs=1e-12)
    # The same distribution in a different order is the same distribution.
    assert population_stability_index(numbers, numbers.sample(frac=1, random_state=3)) == pytest.approx(0.0, abs=1e-12)


def test_psi_known_value_for_two_categories():
    reference = pd.Series(["a"] * 50 + ["b"] * 50, name="letter")
    current = pd.Series(["a"] * 80 + ["b"] * 20, name="letter")
    # Bins a, b (the empty rare pool and missing bins add nothing: both sides get the same floor).
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert population_stability_index(reference, current) == pytest.approx(expected, rel=1e-12)
    # PSI is symmetric in this formula.
    assert population_stability_index(current, reference) == pytest.approx(expected, rel=1e-12)


def test_psi_known_value_for_two_numeric_bins():
    # Two bins split at the reference median 8.5: reference 8 | 8, current 12 | 4.
    # (Enough distinct values that the column is binned, not compared value by value.)
    reference = pd.Series(np.arange(1.0, 17.0), name="x")
    current = pd.Series(np.concatenate([np.arange(1.0, 9.0), np.arange(1.0, 5.0), np.arange(13.0, 17.0)]), name="x")
    expected = (0.75 - 0.5) * math.log(0.75 / 0.5) + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert population_stability_index(reference, current, bins=2) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.25 * math.log(3))


def test_psi_is_large_for_a_shifted_numeric_sample_and_small_for_a_resample():
    rng = np.random.default_rng(1)
    reference = pd.Series(rng.normal(0, 1, 2000), name="x")
    same = pd.Series(rng.normal(0, 1, 2000), name="x")
    shifted = pd.Series(rng.normal(2, 1, 2000), name="x")
    assert population_stability_index(reference, same) < 0.05
    assert population_stability_index(reference, shifted) > 1.0


def test_psi_counts_a_jump_in_missing_values_as_drift():
    rng = np.random.default_rng(2)
    reference = pd.Series(rng.normal(30, 10, 1000), name="age")
    current = reference.copy()
    current[:300] = np.nan  # the remaining values are a plain subsample of the reference
    assert population_stability_index(reference, current) > 0.2
    # The same for categories: 40% missing where none were before.
    words = pd.Series(["a", "b"] * 50, name="embarked")
    holes = pd.Series(["a", "b"] * 30 + [None] * 40, name="embarked")
    assert population_stability_index(words, holes) > 0.2


def test_psi_pools_rare_categories_so_one_new_category_is_not_drift():
    # 'r1' and 'r2' are 1% each of the reference: below RARE_SHARE, so they share one bin.
    reference = pd.Series(["a"] * 600 + ["b"] * 380 + ["r1"] * 10 + ["r2"] * 10, name="embarked")
    # The current sample has the common categories in the reference's shares and one
    # passenger with a category never seen before: it lands in the rare pool (2% vs 2%).
    current = pd.Series(["a"] * 30 + ["b"] * 19 + ["never-seen"], name="embarked")
    assert population_stability_index(reference, current) == pytest.approx(0.0, abs=1e-12)
    # Whole numbers with few values are categories too: one passenger with 9 siblings.
    sibsp = pd.Series([0] * 600 + [1] * 300 + [2] * 80 + [8] * 20, name="sibsp", dtype="int64")
    recent = pd.Series([0] * 30 + [1] * 15 + [2] * 4 + [9], name="sibsp", dtype="int64")
    assert population_stability_index(sibsp, recent) == pytest.approx(0.0, abs=1e-12)


def test_psi_flags_a_real_category_shift_even_with_pooling():
    reference = pd.Series(["S"] * 70 + ["C"] * 20 + ["Q"] * 10, name="embarked")
    current = pd.Series(["S"] * 20 + ["C"] * 70 + ["Q"] * 10, name="embarked")
    assert population_stability_index(reference, current) > 0.2


def test_psi_detects_a_shift_in_a_float_column_dominated_by_one_value():
    reference = pd.Series([0.0] * 95 + [1.0] * 5, name="flag")
    current = pd.Series([0.0] * 50 + [1.0] * 50, name="flag")
    # The same data as whole numbers (a category column) gives about 1.3.
    assert population_stability_index(reference.astype("int64"), current.astype("int64")) > 1.0
    assert population_stability_index(reference, current) > 0.2


@pytest.mark.parametrize("empty", ["reference", "current"])
def test_psi_of_an_empty_sample_raises_naming_the_column(empty):
    full = pd.Series([1.0, 2.0, 3.0], name="age")
    none = pd.Series([], dtype="float64", name="age")
    reference, current = (none, full) if empty == "reference" else (full, none)
    with pytest.raises(ParameterError, match="'age'"):
        population_stability_index(reference, current)


# --------------------------------------------------------------------------- drift table


def test_drift_table_columns_means_and_drifted_flag():
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({
        "age": rng.normal(30, 10, 1000),
        "sex": rng.choice(["female", "male"], 1000),
        "fare": rng.normal(50, 5, 1000),
    })
    current = pd.DataFrame({
        "age": rng.normal(45, 10, 500),  # shifted
        "sex": rng.choice(["female", "male"], 500),
        "fare": rng.normal(50, 5, 500),
    })
    table = drift_table(reference, current, ["age", "sex", "fare"], threshold=0.2)
    assert list(table.columns) == ["feature", "reference_mean", "current_mean", "psi", "rows", "drifted"]
    assert table["rows"].tolist() == [500] * 3
    assert table["feature"].tolist() == ["age", "sex", "fare"]
    by = table.set_index("feature")
    assert by.loc["age", "reference_mean"] == round(float(reference["age"].mean()), 3)
    assert by.loc["age", "current_mean"] == round(float(current["age"].mean()), 3)
    assert pd.isna(by.loc["sex", "reference_mean"]) and pd.isna(by.loc["sex", "current_mean"])
    for name in ("age", "sex", "fare"):
        assert by.loc[name, "psi"] == round(population_stability_index(reference[name], current[name]), 4)
    assert by["drifted"].tolist() == [True, False, False]
    assert by["drifted"].tolist() == (by["psi"] > 0.2).tolist()


def test_drift_table_flag_follows_the_threshold():
    reference = pd.DataFrame({"letter": ["a"] * 50 + ["b"] * 50, "same": ["x", "y"] * 50})
    current = pd.DataFrame({"letter": ["a"] * 80 + ["b"] * 20, "same": ["x", "y"] * 50})
    psi = round((0.3 * math.log(1.6)) + (-0.3 * math.log(0.4)), 4)  # 0.4159
    low = drift_table(reference, current, ["letter", "same"], threshold=0.1)
    assert low["psi"].tolist() == [psi, 0.0]
    assert low["drifted"].tolist() == [True, False]
    high = drift_table(reference, current, ["letter", "same"], threshold=0.5)
    assert high["drifted"].tolist() == [False, False]
    # "Above the threshold": a PSI equal to it does not count.
    equal = drift_table(reference, current, ["letter"], threshold=psi)
    assert equal["drifted"].tolist() == [False]


def test_drift_table_judges_nothing_below_the_minimum_sample():
    reference = pd.DataFrame({"letter": ["a"] * 50 + ["b"] * 50})
    current = pd.DataFrame({"letter": ["a"] * 16 + ["b"] * 4})  # the same shift as above, 20 rows
    few = drift_table(reference, current, ["letter"], threshold=0.1, min_rows=21)
    assert few["psi"].tolist() == [0.4159]  # still computed and shown
    assert few["rows"].tolist() == [20]
    assert few["drifted"].isna().all()  # but not judged
    # From the minimum on, it is judged.
    assert drift_table(reference, current, ["letter"], threshold=0.1, min_rows=20)["drifted"].tolist() == [True]
    # The default minimum is MIN_ROWS rows.
    assert drift_table(reference, current, ["letter"], threshold=0.1)["drifted"].isna().all()
    assert MIN_ROWS == 100
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ParameterError, match="min_rows"):
            drift_table(reference, current, ["letter"], min_rows=bad)


# --------------------------------------------------------------------------- hindcast


def hand_made_predictions() -> tuple[pd.DataFrame, pd.DataFrame]:
    predictions = pd.DataFrame({
        "passenger_id": [1, 2, 3, 4, 5, 6, 7],
        "run_date": ["2024-05-02", "2024-05-01", "2024-05-01", "2024-05-01", "2024-05-02", "2024-05-03",
                     "2024-05-02"],
        "predicted_survived": [1, 0, 1, 1, 0, 1, 1],
    })
    # Outcomes of 1-5 and 7 are known; 6 is not, and 99 was never predicted.
    outcomes = pd.DataFrame({
        "passenger_id": [99, 1, 2, 3, 4, 5, 7],
        "survived": [1, 1, 0, 0, 1, 1, 1],
        "age": [1.0] * 7,
    })
    return predictions, outcomes


def test_hindcast_accuracy_per_group():
    predictions, outcomes = hand_made_predictions()
    table = hindcast(predictions, outcomes, key="passenger_id", predicted="predicted_survived",
                     actual="survived", by="run_date")
    assert list(table.columns) == ["run_date", "predictions", "correct", "accuracy"]
    # 2024-05-01: ids 2 (right), 3 (wrong), 4 (right); 2024-05-02: ids 1 (right), 5 (wrong), 7 (right).
    assert table["run_date"].tolist() == ["2024-05-01", "2024-05-02"]
    assert table["predictions"].tolist() == [3, 3]
    assert table["correct"].tolist() == [2, 2]
    assert table["accuracy"].tolist() == [round(2 / 3, 4), round(2 / 3, 4)]


def test_hindcast_leaves_out_predictions_without_outcome():
    predictions, outcomes = hand_made_predictions()
    table = hindcast(predictions, outcomes, key="passenger_id", predicted="predicted_survived",
                     actual="survived", by="run_date")
    # Passenger 6 (the only prediction of 2024-05-03) has no outcome yet: no row for that date.
    assert "2024-05-03" not in table["run_date"].tolist()
    assert int(table["predictions"].sum()) == 6
    # Nothing known at all: an empty table, not an error.
    none = hindcast(predictions, outcomes.iloc[:1], key="passenger_id", predicted="predicted_survived",
                    actual="survived", by="run_date")
    assert len(none) == 0


def test_hindcast_compares_booleans_with_integers():
    predictions = pd.DataFrame({"id": [1, 2, 3, 4], "day": [1, 1, 2, 2], "guess": [True, False, True, True]})
    outcomes = pd.DataFrame({"id": [1, 2, 3, 4], "truth": [1, 1, 0, 1]})
    table = hindcast(predictions, outcomes, key="id", predicted="guess", actual="truth", by="day")
    assert table["correct"].tolist() == [1, 1]
    assert table["accuracy"].tolist() == [0.5, 0.5]


# --------------------------------------------------------------------------- verdict


def accuracy_table(correct_and_total: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame({
        "run_date": [f"2024-05-{day:02d}" for day in range(1, len(correct_and_total) + 1)],
        "predictions": [total for _, total in correct_and_total],
        "correct": [correct for correct, _ in correct_and_total],
    }).assign(accuracy=lambda t: t["correct"] / t["predictions"])


def drift_rows(drifted: dict[str, bool], rows: int = 200) -> pd.DataFrame:
    return pd.DataFrame({"feature": list(drifted), "psi": [0.5 if d else 0.01 for d in drifted.values()],
                         "rows": rows, "drifted": list(drifted.values())})


def test_verdict_retrains_on_low_accuracy():
    result = verdict(accuracy_table([(90, 100), (50, 100), (45, 100)]), drift_rows({"age": False, "sex": False}),
                     min_accuracy=0.7, window=2)
    assert bool(result.retrain) is True and result.status == "RETRAIN"
    assert any("below" in reason and "0.475" in reason and "200 predictions" in reason for reason in result.reasons)
    assert str(result).startswith("RETRAIN")
    assert (result.accuracy, result.predictions, result.rows) == (0.475, 200, 200)
    assert result.reason == "accuracy over the last 2 day(s) is 0.475 on 200 predictions, below 0.700"


def test_verdict_retrains_on_drift_even_with_good_accuracy():
    result = verdict(accuracy_table([(95, 100), (100, 100)]),
                     drift_rows({"age": True, "sex": False, "parch": True}), min_accuracy=0.7, window=2)
    assert bool(result.retrain) is True
    drift_reason = [reason for reason in result.reasons if reason.startswith("drift")]
    assert drift_reason and "age" in drift_reason[0] and "parch" in drift_reason[0]
    assert "sex" not in drift_reason[0]
    assert result.psi == {"age": 0.5, "sex": 0.01, "parch": 0.5}
    # One line for a retraining request: only the check that asks for it.
    assert result.reason == drift_reason[0] == "drift in age, parch (PSI above threshold, 200 recent rows)"
    assert result.triggers == drift_reason


def test_verdict_no_retrain_when_accuracy_and_drift_are_fine():
    # Only the last `window` days count: the bad first day is outside the window.
    result = verdict(accuracy_table([(10, 100), (80, 100), (75, 100)]), drift_rows({"age": False, "sex": False}),
                     min_accuracy=0.7, window=2)
    assert result.retrain is False and result.enough_data is True
    assert str(result).startswith("NO RETRAIN NEEDED")
    assert any("0.775" in reason and "at or above" in reason for reason in result.reasons)
    assert result.triggers == [] and result.reason == "; ".join(result.reasons)  # nothing to ask for: every check
    # Exactly at the minimum is not below it.
    boundary = verdict(accuracy_table([(70, 100)]), drift_rows({"age": False}), min_accuracy=0.7, window=3)
    assert boundary.retrain is False


def test_verdict_pools_the_window_instead_of_averaging_daily_rates():
    # 10/10 and 10/90: 20 of 100 right (0.2), although the mean of the daily rates is 0.56.
    result = verdict(accuracy_table([(10, 10), (10, 90)]), drift_rows({"age": False}), min_accuracy=0.5, window=2)
    assert bool(result.retrain) is True
    assert any("0.200" in reason for reason in result.reasons)


def test_verdict_retrain_is_a_plain_bool():
    result = verdict(accuracy_table([(25, 100)]), drift_rows({"age": False}), min_accuracy=0.7, window=1)
    assert bool(result.retrain) is True  # the decision itself is right
    assert type(result.retrain) is bool
    assert json.loads(json.dumps({"retrain": result.retrain})) == {"retrain": True}


def test_verdict_without_predictions_yet():
    predictions, outcomes = hand_made_predictions()
    empty = hindcast(predictions, outcomes.iloc[:0], key="passenger_id", predicted="predicted_survived",
                     actual="survived", by="run_date")
    calm = verdict(empty, drift_rows({"age": False}), min_accuracy=0.7, window=7)
    assert calm.retrain is False and calm.status == "NOT ENOUGH DATA YET"
    assert any("no predictions" in reason for reason in calm.reasons)
    assert calm.accuracy is None and calm.predictions == 0
    # Drift alone, judged on enough rows, still asks for retraining.
    drifted = verdict(empty, drift_rows({"age": True}), min_accuracy=0.7, window=7)
    assert bool(drifted.retrain) is True


def test_too_few_rows_are_not_enough_data_never_retrain():
    # 20 passengers in one day: a terrible accuracy and a huge PSI, but 20 rows prove nothing.
    few = verdict(accuracy_table([(5, 20)]), drift_rows({"age": True, "parch": True}, rows=20),
                  min_accuracy=0.7, window=7)
    assert few.retrain is False and few.enough_data is False
    assert few.status == "NOT ENOUGH DATA YET"
    assert str(few).startswith("NOT ENOUGH DATA YET")
    accuracy_reason, drift_reason = few.reasons
    assert "not enough data yet" in accuracy_reason and "20 predictions" in accuracy_reason
    assert f"at least {MIN_ROWS} needed" in accuracy_reason and "0.250" in accuracy_reason
    assert drift_reason == f"drift: not enough data yet: 20 recent rows, at least {MIN_ROWS} needed"
    assert "age" not in drift_reason


def test_the_same_figures_on_enough_rows_retrain():
    # The other side of the minimum: the same rates on exactly min_rows rows are judged.
    enough = verdict(accuracy_table([(25, 100)]), drift_rows({"age": True}, rows=100), min_accuracy=0.7, window=7)
    assert enough.retrain is True and enough.enough_data is True and enough.status == "RETRAIN"
    assert any("drift in age" in reason for reason in enough.reasons)
    # One row short of a custom minimum, and neither check judges.
    short = verdict(accuracy_table([(25, 100)]), drift_rows({"age": True}, rows=100), min_accuracy=0.7, window=7,
                    min_rows=101)
    assert short.retrain is False and short.status == "NOT ENOUGH DATA YET"
    with pytest.raises(ParameterError, match="min_rows"):
        verdict(accuracy_table([(25, 100)]), drift_rows({"age": True}), min_accuracy=0.7, window=7, min_rows=0)


def test_a_verdict_is_kept_as_one_row_of_a_feature_group(fs, monkeypatch):
    monkeypatch.setenv("FTI_NOW", "2026-01-05T23:15:00Z")
    history = fs.get_or_create_feature_group("monitoring", primary_key=["run_date"])
    first = verdict(accuracy_table([(5, 20)]), drift_rows({"age": True, "sex": False}, rows=20),
                    min_accuracy=0.7, window=7)
    second = verdict(accuracy_table([(60, 100), (70, 100)]), drift_rows({"age": True, "sex": False}),
                     min_accuracy=0.7, window=7)
    history.insert(first.to_frame("2026-01-01", model_version=1))
    history.insert(second.to_frame("2026-01-05", model_version=None))
    history.insert(second.to_frame("2026-01-05", model_version=2))  # a re-run of a day replaces its row
    kept = history.read().sort_values("run_date").reset_index(drop=True)
    assert kept["run_date"].tolist() == ["2026-01-01", "2026-01-05"]
    assert kept["status"].tolist() == ["NOT ENOUGH DATA YET", "RETRAIN"]
    assert kept["retrain"].tolist() == [False, True]
    assert kept["predictions"].tolist() == [20, 200] and kept["rows"].tolist() == [20, 200]
    assert kept["accuracy"].tolist() == [0.25, 0.65]
    assert kept["psi_age"].tolist() == [0.5, 0.5] and kept["psi_sex"].tolist() == [0.01, 0.01]
    assert kept["model_version"].tolist() == [1, 2]
    assert kept["min_rows"].tolist() == [MIN_ROWS, MIN_ROWS]
    assert kept.loc[1, "reasons"] == "; ".join(second.reasons)
    assert kept["monitored_at"].tolist() == [pd.Timestamp("2026-01-05T23:15:00Z")] * 2
    assert isinstance(first, Verdict)


# --------------------------------------------------------------------------- end to end on the Titanic generator


RUN_DATES = [d.date() for d in pd.date_range("2024-05-01", periods=5)]


def generated(drift: titanic.Drift | None) -> pd.DataFrame:
    return pd.concat(
        [titanic.generate_passengers(day, 20, first_id=titanic.first_passenger_id(day, 20), drift=drift)
         for day in RUN_DATES],
        ignore_index=True,
    )


def test_generated_passengers_without_drift_show_no_drift():
    reference = titanic.load_passengers()
    table = drift_table(reference, generated(None), titanic.FEATURES, threshold=0.2)
    assert table["feature"].tolist() == titanic.FEATURES
    assert not table["drifted"].any(), table


def test_generated_passengers_with_an_age_shift_flag_age():
    reference = titanic.load_passengers()
    recent = generated(titanic.Drift(start=RUN_DATES[0], age_shift=15))
    table = drift_table(reference, recent, titanic.FEATURES, threshold=0.2).set_index("feature")
    assert bool(table.loc["age", "drifted"]) is True
    assert table.loc["age", "current_mean"] > table.loc["age", "reference_mean"] + 10
    # Class and sex are not touched by an age shift.
    assert not table.loc[["pclass", "sex"], "drifted"].any()
    # And the verdict follows: 100 recent passengers are enough to judge.
    assert table["rows"].eq(100).all()
    assert verdict(accuracy_table([(90, 100)]), table.reset_index(), min_accuracy=0.7, window=7).retrain


def test_one_day_of_generated_passengers_is_not_enough_to_call_drift():
    # The case: 20 passengers, no drift switched on; chance alone gives a high PSI.
    reference = titanic.load_passengers()
    one_day = titanic.generate_passengers(RUN_DATES[0], 20, first_id=titanic.first_passenger_id(RUN_DATES[0], 20))
    # Judged anyway (a minimum of one row), age would count as drifted.
    assert drift_table(reference, one_day, titanic.FEATURES, threshold=0.2, min_rows=1).set_index("feature").loc[
        "age", "drifted"]
    table = drift_table(reference, one_day, titanic.FEATURES, threshold=0.2)
    assert table["drifted"].isna().all()
    result = verdict(accuracy_table([(13, 20)]), table, min_accuracy=0.7, window=7)
    assert result.retrain is False and result.status == "NOT ENOUGH DATA YET"

