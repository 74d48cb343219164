"""systems.titanic helpers used by the pipelines: passenger ids per day, drift from notebook parameters,
and the expectation suite of the passengers feature group."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from systems import titanic
from systems.titanic import IDS_PER_DAY, Drift, drift_from_parameters, first_passenger_id

# --------------------------------------------------------------------------- first_passenger_id


def test_first_passenger_id_is_deterministic_per_date():
    assert first_passenger_id("2000-01-01") == 1_000_000
    assert first_passenger_id(date(2000, 1, 2)) == 1_000_000 + IDS_PER_DAY
    day = date(2024, 5, 1)
    expected = 1_000_000 + (day - date(2000, 1, 1)).days * IDS_PER_DAY
    # The same date in any accepted form, and any n, gives the same first id.
    assert {first_passenger_id(day), first_passenger_id("2024-05-01"), first_passenger_id(day, 20),
            first_passenger_id(" 2024-05-01 ", IDS_PER_DAY)} == {expected}
    # A datetime counts by its calendar day in UTC.
    evening_in_new_york = datetime(2024, 4, 30, 22, 0, tzinfo=timezone(timedelta(hours=-4)))
    assert first_passenger_id(evening_in_new_york) == expected


def test_distinct_days_never_share_ids():
    days = [date(2023, 12, 30) + timedelta(days=i) for i in range(70)] + [date(2024, 2, 28), date(2024, 2, 29),
                                                                           date(2024, 3, 1), date(2099, 12, 31)]
    seen: set[int] = set()
    for day in sorted(set(days)):
        first = first_passenger_id(day, IDS_PER_DAY)
        ids = set(range(first, first + IDS_PER_DAY))
        assert not ids & seen, day
        seen |= ids
    # Consecutive days are exactly IDS_PER_DAY apart: no gap, no overlap.
    assert first_passenger_id("2024-03-01") - first_passenger_id("2024-02-29") == IDS_PER_DAY


def test_generated_ids_of_two_days_do_not_overlap():
    ids = []
    for day in ("2024-05-01", "2024-05-02"):
        frame = titanic.generate_passengers(day, 30, first_id=first_passenger_id(day, 30))
        ids.append(set(frame["passenger_id"]))
    assert len(ids[0]) == len(ids[1]) == 30
    assert not ids[0] & ids[1]
    # None of them collides with the real passengers' ids 1..N.
    assert min(min(i) for i in ids) > len(titanic.load_passengers())


@pytest.mark.parametrize("n", [0, -1, IDS_PER_DAY + 1])
def test_first_passenger_id_rejects_a_bad_number_of_passengers(n):
    with pytest.raises(ValueError, match=str(IDS_PER_DAY)):
        first_passenger_id("2024-05-01", n)


def test_first_passenger_id_rejects_dates_before_2000_and_malformed_dates():
    with pytest.raises(ValueError, match="1999-12-31.*2000-01-01"):
        first_passenger_id("1999-12-31")
    with pytest.raises(ValueError, match="before"):
        first_passenger_id(date(1912, 4, 10))
    with pytest.raises(ValueError, match="2024-13-01"):
        first_passenger_id("2024-13-01")
    with pytest.raises(TypeError):
        first_passenger_id(20240501)


# --------------------------------------------------------------------------- drift_from_parameters


def test_drift_from_parameters_empty_start_means_no_drift():
    assert drift_from_parameters("") is None
    assert drift_from_parameters("", age_shift=10.0, class_mix="0.6,0.3,0.1") is None


def test_drift_from_parameters_builds_a_drift():
    drift = drift_from_parameters("2024-05-10", age_shift=12.5)
    assert drift == Drift(start=date(2024, 5, 10), age_shift=12.5)
    assert drift.class_mix is None
    assert not drift.applies_to("2024-05-09") and drift.applies_to("2024-05-10")


def test_drift_from_parameters_parses_class_mix():
    drift = drift_from_parameters("2024-05-10", class_mix="0.6,0.3,0.1")
    assert drift.class_mix == (0.6, 0.3, 0.1)
    assert drift.start == date(2024, 5, 10) and drift.age_shift == 0.0
    # Spaces around the numbers are fine.
    assert drift_from_parameters("2024-05-10", class_mix=" 0.2, 0.2 ,0.6 ").class_mix == (0.2, 0.2, 0.6)


@pytest.mark.parametrize("mix", ["a,b,c", "0.6;0.3;0.1", "0.6,0.3,", "0.5,0.5", "0.6,0.6,0.1", "0.5,0.7,-0.2"])
def test_drift_from_parameters_bad_class_mix_raises_naming_it(mix):
    with pytest.raises(ValueError, match="class_mix"):
        drift_from_parameters("2024-05-10", class_mix=mix)


def test_drift_from_parameters_bad_start_raises():
    with pytest.raises(ValueError, match="10/05/2024"):
        drift_from_parameters("10/05/2024")


# --------------------------------------------------------------------------- passenger_expectations


def test_passenger_expectations_accept_the_real_list_and_reject_bad_rows():
    from fti.store.validation import validate

    suite = titanic.passenger_expectations()
    assert suite.name == "passengers"
    passengers = titanic.load_passengers()
    good = validate(passengers, suite, name="passengers_v1")
    assert good.success is True
    assert good.evaluated == 7 and good.failures == []
    # Generated passengers follow the same rules.
    new = titanic.generate_passengers("2024-05-01", 50, first_id=first_passenger_id("2024-05-01", 50))
    assert validate(new, suite, name="passengers_v1").success is True

    bad = passengers.head(10).copy()
    bad.loc[2, "pclass"] = 4
    bad.loc[5, "age"] = -3.0
    outcome = validate(bad, suite, name="passengers_v1")
    assert outcome.success is False
    failed = {failure["column"]: failure for failure in outcome.failures}
    assert set(failed) == {"pclass", "age"}
    assert failed["pclass"]["expectation"] == "expect_column_values_to_be_in_set"
    assert failed["pclass"]["examples"] == [4]
    assert failed["age"]["expectation"] == "expect_column_values_to_be_between"
    assert failed["age"]["examples"] == [-3.0]
