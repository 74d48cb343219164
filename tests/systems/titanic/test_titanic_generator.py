"""Tests of systems.titanic: the real passenger list and the synthetic passenger generator."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import systems.titanic
from fti.exceptions import FTIError, SchemaError
from systems.titanic import (
    BOARDED_AT,
    COLUMNS,
    TITANIC_CSV,
    Drift,
    PassengerGenerator,
    generate_passengers,
    load_passengers,
)

# Where the fti package under test lives, for the fresh-process test.
SHARED = Path(systems.titanic.__file__).resolve().parents[2]

EXPECTED_DTYPES = {
    "passenger_id": "int64",
    "boarded_at": "datetime64[us, UTC]",
    "pclass": "int64",
    "sex": "str",
    "age": "float64",
    "sibsp": "int64",
    "parch": "int64",
    "survived": "int64",
}

# Digest of generate_passengers("2024-05-01", 20, first_id=1310) on the real
# list, with the locked numpy/pandas/scikit-learn. If it changes, every
# committed notebook output built on generated passengers changes too: update
# it only on purpose (and re-run the notebooks).
GOLDEN_DIGEST = "27a54ce5b671d4c1e3170b84384fdcf377ceb2cf0b0da38c6d4407cb66d15b90"


def digest(frame: pd.DataFrame) -> str:
    """A content hash of a frame: values (full float precision), column names and dtypes."""
    text = frame.to_csv(index=True) + repr([(c, str(t)) for c, t in frame.dtypes.items()])
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return load_passengers()


@pytest.fixture(scope="module")
def generator(real: pd.DataFrame) -> PassengerGenerator:
    return PassengerGenerator.fit(real)


@pytest.fixture(scope="module")
def sample(generator: PassengerGenerator) -> pd.DataFrame:
    # One large sample for all distribution checks (20k passengers, ~15 ms).
    return generator.generate("2024-05-01", 20_000, first_id=10_000)


def write_csv(tmp_path: Path, text: str, name: str = "titanic.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD_HEADER = "pclass,sex,age,sibsp,parch,survived\n"
GOOD_ROWS = "1,female,29.0,0,0,1\n3,male,,1,0,0\n2,male,0.92,1,2,1\n"


# ---------------------------------------------------------------------------
# load_passengers
# ---------------------------------------------------------------------------


def test_default_path_is_repo_data_copy() -> None:
    assert TITANIC_CSV == Path(__file__).resolve().parents[3] / "data" / "titanic.csv"
    assert TITANIC_CSV.is_file()


def test_load_columns_dtypes_and_counts(real: pd.DataFrame) -> None:
    assert tuple(real.columns) == COLUMNS
    assert {c: str(t) for c, t in real.dtypes.items()} == EXPECTED_DTYPES
    assert len(real) == 1309
    assert int(real["age"].isna().sum()) == 263
    assert real["passenger_id"].tolist() == list(range(1, 1310))
    assert (real["boarded_at"] == pd.Timestamp("1912-04-10 12:00", tz="UTC")).all()
    assert BOARDED_AT == pd.Timestamp("1912-04-10 12:00", tz="UTC")
    assert set(real["pclass"]) == {1, 2, 3}
    assert set(real["sex"]) == {"male", "female"}
    assert set(real["survived"]) == {0, 1}
    assert real["age"].min() == pytest.approx(0.17) and real["age"].max() == 80
    assert isinstance(real.index, pd.RangeIndex) and real.index[0] == 0


def test_load_first_row_matches_file(real: pd.DataFrame) -> None:
    # File line 2 is "1,female,29.0,0,0,1"; line 3 is an infant of 0.92 years.
    first = real.iloc[0]
    assert (first["pclass"], first["sex"], first["age"], first["sibsp"], first["parch"], first["survived"]) == (
        1,
        "female",
        29.0,
        0,
        0,
        1,
    )
    assert real.iloc[1]["age"] == pytest.approx(0.92)


def test_load_tolerates_case_spaces_and_extra_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "name,pclass,sex,age,sibsp,parch,survived\nA, 1, Female ,29,0,0,1\nB,3,MALE,,1,0,0\n")
    frame = load_passengers(path)
    assert tuple(frame.columns) == COLUMNS
    assert frame["sex"].tolist() == ["female", "male"]
    assert frame["pclass"].tolist() == [1, 3]
    assert np.isnan(frame["age"].iloc[1])


@pytest.mark.parametrize(
    ("text", "column", "where"),
    [
        ("pclass,sex,age,sibsp,survived\n1,female,29,0,1\n", "parch", None),
        (GOOD_HEADER + GOOD_ROWS + "4,male,30,0,0,0\n", "pclass", "line 5"),
        (GOOD_HEADER + "1.5,male,30,0,0,0\n", "pclass", "line 2"),
        (GOOD_HEADER + GOOD_ROWS + "1,unknown,30,0,0,0\n", "sex", "line 5"),
        (GOOD_HEADER + ",male,30,0,0,0\n", "pclass", "line 2"),
        (GOOD_HEADER + "1,,30,0,0,0\n", "sex", "line 2"),
        (GOOD_HEADER + "1,male,-3,0,0,0\n", "age", "line 2"),
        (GOOD_HEADER + "1,male,150,0,0,0\n", "age", "line 2"),
        (GOOD_HEADER + "1,male,thirty,0,0,0\n", "age", "line 2"),
        (GOOD_HEADER + "1,male,30,-1,0,0\n", "sibsp", "line 2"),
        (GOOD_HEADER + "1,male,30,0,0.5,0\n", "parch", "line 2"),
        (GOOD_HEADER + "1,male,30,0,0,2\n", "survived", "line 2"),
    ],
)
def test_load_rejects_bad_files_naming_file_and_column(tmp_path: Path, text: str, column: str, where: str) -> None:
    path = write_csv(tmp_path, text)
    with pytest.raises(SchemaError) as info:
        load_passengers(path)
    message = str(info.value)
    assert str(path) in message
    assert column in message
    if where:
        assert where in message


def test_load_rejects_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no rows"):
        load_passengers(write_csv(tmp_path, GOOD_HEADER))
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        load_passengers(tmp_path / "nowhere.csv")
    assert issubclass(SchemaError, FTIError)


# ---------------------------------------------------------------------------
# generate: shape, dtypes, ids, times
# ---------------------------------------------------------------------------


def test_generated_frame_columns_dtypes_ids(generator: PassengerGenerator, real: pd.DataFrame) -> None:
    frame = generator.generate("2024-05-01", 25, first_id=1310)
    assert tuple(frame.columns) == COLUMNS
    assert frame.dtypes.to_dict() == real.dtypes.to_dict()
    assert frame["passenger_id"].tolist() == list(range(1310, 1335))
    assert isinstance(frame.index, pd.RangeIndex) and frame.index.tolist() == list(range(25))
    day = pd.Timestamp("2024-05-01", tz="UTC")
    assert frame["boarded_at"].min() >= day
    assert frame["boarded_at"].max() < day + pd.Timedelta(days=1)
    assert frame["boarded_at"].is_monotonic_increasing
    assert frame["boarded_at"].nunique() > 1
    assert frame["sex"].isin(["male", "female"]).all()
    assert frame["pclass"].isin([1, 2, 3]).all()
    assert frame["survived"].isin([0, 1]).all()
    assert (frame["sibsp"] >= 0).all() and (frame["parch"] >= 0).all()


def test_default_n_is_20(generator: PassengerGenerator) -> None:
    assert len(generator.generate("2024-05-01", first_id=1)) == 20


@settings(max_examples=30, deadline=None)
@given(
    run_date=st.dates(min_value=date(1912, 4, 10), max_value=date(2100, 12, 31)),
    n=st.integers(min_value=1, max_value=60),
    first_id=st.integers(min_value=1, max_value=10**12),
)
def test_generated_frames_are_always_valid(run_date: date, n: int, first_id: int) -> None:
    frame = generate_passengers(run_date, n, first_id=first_id)
    assert {c: str(t) for c, t in frame.dtypes.items()} == EXPECTED_DTYPES
    assert frame["passenger_id"].tolist() == list(range(first_id, first_id + n))
    assert (frame["boarded_at"].dt.date == run_date).all()
    ages = frame["age"].dropna()
    assert ((ages >= 0.17) & (ages <= 80)).all()


def test_generated_frame_passes_the_loaders_checks(real: pd.DataFrame, sample: pd.DataFrame) -> None:
    # Generated rows are valid input for the same validation as the file, e.g. to refit on.
    refitted = PassengerGenerator.fit(pd.concat([real, sample], ignore_index=True))
    assert len(refitted.generate("2024-05-01", 5, first_id=1)) == 5


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------


def test_same_date_same_frame(generator: PassengerGenerator, real: pd.DataFrame) -> None:
    a = generator.generate("2024-05-01", 50, first_id=1310)
    b = generator.generate(date(2024, 5, 1), 50, first_id=1310)
    c = PassengerGenerator.fit(real).generate(datetime(2024, 5, 1, 23, 59), 50, first_id=1310)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert digest(a) == digest(b) == digest(c)


def test_generate_passengers_matches_generator(generator: PassengerGenerator) -> None:
    pd.testing.assert_frame_equal(
        generate_passengers("2024-05-01", 30, first_id=1310),
        generator.generate("2024-05-01", 30, first_id=1310),
    )


def test_aware_datetime_uses_its_utc_date(generator: PassengerGenerator) -> None:
    late_evening_in_new_york = datetime(2024, 4, 30, 22, 0, tzinfo=timezone(timedelta(hours=-4)))
    pd.testing.assert_frame_equal(
        generator.generate(late_evening_in_new_york, 10, first_id=1),
        generator.generate("2024-05-01", 10, first_id=1),
    )


def test_different_dates_differ(generator: PassengerGenerator) -> None:
    frames = [generator.generate(f"2024-05-{day:02d}", 20, first_id=1310) for day in range(1, 8)]
    digests = {digest(f.drop(columns="boarded_at")) for f in frames}
    assert len(digests) == 7


def test_first_id_changes_only_ids(generator: PassengerGenerator) -> None:
    a = generator.generate("2024-05-01", 20, first_id=1310)
    b = generator.generate("2024-05-01", 20, first_id=5000)
    pd.testing.assert_frame_equal(a.drop(columns="passenger_id"), b.drop(columns="passenger_id"))


def test_fresh_process_gives_identical_frame(generator: PassengerGenerator) -> None:
    here = digest(generator.generate("2024-05-01", 200, first_id=1310))
    code = (
        "import hashlib\n"
        "from systems.titanic import generate_passengers\n"
        "f = generate_passengers('2024-05-01', 200, first_id=1310)\n"
        "text = f.to_csv(index=True) + repr([(c, str(t)) for c, t in f.dtypes.items()])\n"
        "print(hashlib.sha256(text.encode()).hexdigest())\n"
    )
    # A different hash seed: the generator must not depend on Python's salted hash().
    env = {**os.environ, "PYTHONPATH": str(SHARED), "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == here


def test_output_is_pinned_for_committed_notebooks() -> None:
    frame = generate_passengers("2024-05-01", 20, first_id=1310)
    assert digest(frame) == GOLDEN_DIGEST, (
        "generated passengers changed for a fixed run_date; committed notebook outputs will differ. "
        f"If intended, set GOLDEN_DIGEST = {digest(frame)!r}"
    )


def test_fit_ignores_row_order(real: pd.DataFrame) -> None:
    shuffled = real.sample(frac=1.0, random_state=7)
    a = PassengerGenerator.fit(real).generate("2024-05-01", 500, first_id=1)
    b = PassengerGenerator.fit(shuffled).generate("2024-05-01", 500, first_id=1)
    pd.testing.assert_frame_equal(a.drop(columns="survived"), b.drop(columns="survived"))
    # The regression may differ in the last bits only, so at most a rare survival draw differs.
    assert (a["survived"] != b["survived"]).sum() <= 1


# ---------------------------------------------------------------------------
# Distributions (20k generated vs 1309 real passengers)
# ---------------------------------------------------------------------------


def test_class_and_sex_proportions(real: pd.DataFrame, sample: pd.DataFrame) -> None:
    for c in (1, 2, 3):
        assert (sample["pclass"] == c).mean() == pytest.approx((real["pclass"] == c).mean(), abs=0.02)
    assert (sample["sex"] == "female").mean() == pytest.approx((real["sex"] == "female").mean(), abs=0.02)
    # sex given class: first class has the largest share of women, third class the smallest.
    real_female = real.groupby("pclass")["sex"].apply(lambda s: (s == "female").mean())
    gen_female = sample.groupby("pclass")["sex"].apply(lambda s: (s == "female").mean())
    np.testing.assert_allclose(gen_female.to_numpy(), real_female.to_numpy(), atol=0.03)


def test_age_distribution(real: pd.DataFrame, sample: pd.DataFrame) -> None:
    assert sample["age"].mean() == pytest.approx(real["age"].mean(), abs=1.5)
    assert sample["age"].std() == pytest.approx(real["age"].std(), rel=0.1)
    assert sample["age"].min() >= 0.17 and sample["age"].max() <= 80
    # Infants stay infants: the jitter must not wipe out ages below one year.
    assert (sample["age"] < 1).mean() == pytest.approx((real["age"] < 1).mean(), abs=0.01)
    # ... and are not piled up at the lower clip (one real passenger is 0.17 years old).
    assert (sample["age"] == 0.17).mean() < 0.002
    # Missing-age rate kept per class (29% in third class, 6% in second).
    real_missing = real.groupby("pclass")["age"].apply(lambda s: s.isna().mean())
    gen_missing = sample.groupby("pclass")["age"].apply(lambda s: s.isna().mean())
    np.testing.assert_allclose(gen_missing.to_numpy(), real_missing.to_numpy(), atol=0.03)
    # Age given class: first-class passengers are older than third-class ones, by about as much.
    real_by_class = real.groupby("pclass")["age"].mean()
    gen_by_class = sample.groupby("pclass")["age"].mean()
    np.testing.assert_allclose(gen_by_class.to_numpy(), real_by_class.to_numpy(), atol=1.5)


def test_family_sizes(real: pd.DataFrame, sample: pd.DataFrame) -> None:
    for column in ("sibsp", "parch"):
        assert sample[column].mean() == pytest.approx(real[column].mean(), abs=0.05)
        assert (sample[column] == 0).mean() == pytest.approx((real[column] == 0).mean(), abs=0.02)
    # Children travel with parents: parch is much higher for under-13s, as in the real data.
    assert sample.loc[sample["age"] < 13, "parch"].mean() == pytest.approx(
        real.loc[real["age"] < 13, "parch"].mean(), abs=0.15
    )


def test_survival_rates(real: pd.DataFrame, sample: pd.DataFrame) -> None:
    assert sample["survived"].mean() == pytest.approx(real["survived"].mean(), abs=0.03)
    real_by_sex = real.groupby("sex")["survived"].mean()
    gen_by_sex = sample.groupby("sex")["survived"].mean()
    assert gen_by_sex["female"] > gen_by_sex["male"] + 0.4
    assert gen_by_sex["female"] == pytest.approx(real_by_sex["female"], abs=0.04)
    assert gen_by_sex["male"] == pytest.approx(real_by_sex["male"], abs=0.04)
    gen_by_class = sample.groupby("pclass")["survived"].mean()
    assert gen_by_class[1] > gen_by_class[2] > gen_by_class[3]
    np.testing.assert_allclose(gen_by_class.to_numpy(), real.groupby("pclass")["survived"].mean(), atol=0.04)


def test_survival_model_is_fitted_on_real_outcome(generator: PassengerGenerator, real: pd.DataFrame) -> None:
    p = generator.survival_probability(real)
    assert p.shape == (1309,)
    assert p.mean() == pytest.approx(real["survived"].mean(), abs=0.005)  # logistic regression is calibrated in-sample
    accuracy = ((p > 0.5) == (real["survived"] == 1)).mean()
    assert accuracy > 0.78
    coef = dict(zip(generator.survival_features, generator.survival_model.coef_[0], strict=True))
    assert coef["female"] > 0 and coef["class_3"] < 0


# ---------------------------------------------------------------------------
# Drift
# ---------------------------------------------------------------------------


def test_drift_has_no_effect_before_start(generator: PassengerGenerator) -> None:
    drift = Drift(start="2024-06-01", age_shift=15.0, class_mix=(0.7, 0.2, 0.1), survival_shift=2.0)
    pd.testing.assert_frame_equal(
        generator.generate("2024-05-31", 100, first_id=1, drift=drift),
        generator.generate("2024-05-31", 100, first_id=1),
    )
    assert not drift.applies_to("2024-05-31") and drift.applies_to("2024-06-01")


def test_drift_age_shift(generator: PassengerGenerator) -> None:
    drift = Drift(start=date(2024, 6, 1), age_shift=10.0)
    before = generator.generate("2024-06-01", 5000, first_id=1)
    after = generator.generate("2024-06-01", 5000, first_id=1, drift=drift)
    assert after["age"].mean() - before["age"].mean() == pytest.approx(10.0, abs=0.5)
    assert after["age"].max() > 80  # the new range is what a monitor can notice
    # Same underlying passengers: class, sex and missing ages unchanged.
    pd.testing.assert_series_equal(after["pclass"], before["pclass"])
    pd.testing.assert_series_equal(after["sex"], before["sex"])
    assert (after["age"].isna() == before["age"].isna()).all()
    # Older passengers survive less often (through the model).
    assert after["survived"].mean() < before["survived"].mean()


def test_drift_class_mix(generator: PassengerGenerator) -> None:
    drift = Drift(start="2024-06-01", class_mix=(0.6, 0.3, 0.1))
    after = generator.generate("2024-06-15", 5000, first_id=1, drift=drift)
    proportions = after["pclass"].value_counts(normalize=True).sort_index()
    np.testing.assert_allclose(proportions.to_numpy(), [0.6, 0.3, 0.1], atol=0.02)
    # More first class, more survivors.
    assert after["survived"].mean() > generator.generate("2024-06-15", 5000, first_id=1)["survived"].mean() + 0.05


def test_drift_survival_shift(generator: PassengerGenerator) -> None:
    drift = Drift(start="2024-06-01", survival_shift=1.5)
    before = generator.generate("2024-06-02", 5000, first_id=1)
    after = generator.generate("2024-06-02", 5000, first_id=1, drift=drift)
    pd.testing.assert_frame_equal(before.drop(columns="survived"), after.drop(columns="survived"))
    assert after["survived"].mean() > before["survived"].mean() + 0.15
    assert (after["survived"] >= before["survived"]).all()  # same draws, higher probabilities


def test_drift_normalises_and_compares_equal() -> None:
    assert Drift(start="2024-06-01", class_mix=[0.5, 0.25, 0.25]) == Drift(
        start=date(2024, 6, 1), class_mix=(0.5, 0.25, 0.25)
    )
    assert Drift(start="2024-06-01").start == date(2024, 6, 1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"start": "2024-6-1"}, ValueError, "Drift start"),
        ({"start": "not a date"}, ValueError, "Drift start"),
        ({"start": 20240601}, TypeError, "Drift start"),
        ({"start": "2024-06-01", "class_mix": (0.5, 0.5)}, ValueError, "3 probabilities"),
        ({"start": "2024-06-01", "class_mix": (0.5, 0.3, 0.1)}, ValueError, "sum to 1"),
        ({"start": "2024-06-01", "class_mix": (1.2, -0.1, -0.1)}, ValueError, ">= 0"),
        ({"start": "2024-06-01", "class_mix": "abc"}, TypeError, "class_mix"),
        ({"start": "2024-06-01", "age_shift": float("nan")}, ValueError, "age_shift"),
        ({"start": "2024-06-01", "survival_shift": "1"}, TypeError, "survival_shift"),
    ],
)
def test_drift_rejects_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        Drift(**kwargs)


# ---------------------------------------------------------------------------
# Bad input to generate / fit / generate_passengers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (("2024-05-01", 0), {"first_id": 1}, ValueError, "n .*at least 1"),
        (("2024-05-01", -5), {"first_id": 1}, ValueError, "n .*at least 1"),
        (("2024-05-01", 2.5), {"first_id": 1}, TypeError, "n must be an integer"),
        (("2024-05-01", True), {"first_id": 1}, TypeError, "n must be an integer"),
        (("2024-05-01", 5), {"first_id": -1}, ValueError, "first_id"),
        (("2024-05-01", 5), {"first_id": 0}, ValueError, "first_id"),
        (("2024-05-01", 5), {"first_id": "7"}, TypeError, "first_id"),
        (("2024-05-01", 5), {"first_id": 2**63 - 2}, ValueError, "int64"),
        (("2024-13-01", 5), {"first_id": 1}, ValueError, "run_date '2024-13-01'"),
        (("01/05/2024", 5), {"first_id": 1}, ValueError, "YYYY-MM-DD"),
        (("2024-05-01T10:00", 5), {"first_id": 1}, ValueError, "run_date"),
        (("20240501", 5), {"first_id": 1}, ValueError, "YYYY-MM-DD"),
        (("2024-W18-3", 5), {"first_id": 1}, ValueError, "YYYY-MM-DD"),
        ((20240501, 5), {"first_id": 1}, TypeError, "run_date"),
        (("2024-05-01", 5), {"first_id": 1, "drift": {"start": "2024-01-01"}}, TypeError, "drift"),
    ],
)
def test_generate_rejects_bad_input(
    generator: PassengerGenerator, args: tuple, kwargs: dict, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        generator.generate(*args, **kwargs)


def test_first_id_is_required(generator: PassengerGenerator) -> None:
    with pytest.raises(TypeError):
        generator.generate("2024-05-01", 5)  # type: ignore[call-arg]


def test_fit_rejects_bad_frames(real: pd.DataFrame) -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        PassengerGenerator.fit(real.to_dict())  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="'survived'"):
        PassengerGenerator.fit(real.drop(columns="survived"))
    with pytest.raises(SchemaError, match="only one value"):
        PassengerGenerator.fit(real[real["survived"] == 1])
    bad = real.copy()
    bad.loc[5, "pclass"] = 7
    with pytest.raises(SchemaError, match=r"'pclass'.*index label 5"):
        PassengerGenerator.fit(bad)


def test_generate_passengers_uses_given_file_and_sees_edits(tmp_path: Path) -> None:
    path = tmp_path / "titanic.csv"
    real_text = TITANIC_CSV.read_text()
    path.write_text(real_text)
    pd.testing.assert_frame_equal(
        generate_passengers("2024-05-01", 40, first_id=1, path=path),
        generate_passengers("2024-05-01", 40, first_id=1),
    )
    # Keep only first-class passengers: the cached fit must not be reused for the edited file.
    lines = real_text.splitlines()
    path.write_text("\n".join([lines[0]] + [line for line in lines[1:] if line.startswith("1,")]) + "\n")
    assert (generate_passengers("2024-05-01", 40, first_id=1, path=path)["pclass"] == 1).all()
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        generate_passengers("2024-05-01", 5, first_id=1, path=tmp_path / "missing.csv")
