"""Hopsworks client calls on the feature store, groups and views: what labs write runs, with Hopsworks' meaning.

A store opened through ``fti.login()`` follows the Hopsworks client where the kit's
own defaults differ; a store opened with ``fti.get_feature_store()`` keeps them. Each
test checks both sides where they differ, so neither can drift into the other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fti
from fti.exceptions import (
    FeatureGroupNotFoundError,
    NameClashError,
    ParameterError,
    ParameterTypeError,
    QueryError,
    SchemaError,
    TransformationError,
)
from fti.hsfs.builtin_transformations import label_encoder, standard_scaler


@pytest.fixture
def hops(tmp_path):
    """A feature store as Hopsworks code gets it: ``hopsworks.login().get_feature_store()``."""
    return fti.login(tmp_path / "store", project="lab").get_feature_store()


@pytest.fixture
def kit(tmp_path):
    """The same folder opened the kit's way."""
    return fti.get_feature_store(tmp_path / "store")


def passengers(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Titanic-like rows with the original, capitalised column names."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "PassengerId": np.arange(1, n + 1),
        "Pclass": rng.integers(1, 4, n),
        "Sex": rng.choice(["male", "female"], n),
        "Age": rng.uniform(1, 80, n).round(1),
        "Embarked": rng.choice(["S", "C", "Q"], n),
        "Survived": rng.integers(0, 2, n),
    })


def transactions(n: int = 30, seed: int = 1) -> pd.DataFrame:
    """Card transactions with epoch-millisecond event times, as online labs write them."""
    rng = np.random.default_rng(seed)
    start = int(pd.Timestamp("2026-01-01", tz="UTC").timestamp() * 1000)
    return pd.DataFrame({
        "tid": np.arange(n),
        "cc_num": rng.integers(1, 5, n),
        "amount": rng.uniform(1, 500, n).round(2),
        "datetime": start + np.arange(n) * 60_000,
    })


# --------------------------------------------------------------------------- names and keys


def test_login_lower_cases_feature_names_as_hopsworks_does(hops, kit):
    fg = hops.get_or_create_feature_group("titanic", version=1, primary_key=["PassengerId"])
    fg.insert(passengers())
    assert fg.primary_key == ["passengerid"]
    assert list(fg.read().columns) == ["passengerid", "pclass", "sex", "age", "embarked", "survived"]
    assert fg.select(["survived", "Age"]).read().columns.tolist() == ["passengerid", "survived", "age"]
    # The kit's own calls keep names as written.
    other = kit.get_or_create_feature_group("kept", version=1, primary_key=["PassengerId"])
    other.insert(passengers())
    assert other.primary_key == ["PassengerId"] and "Survived" in other.read().columns


def test_columns_equal_once_lower_cased_are_refused_and_nothing_is_written(hops):
    fg = hops.get_or_create_feature_group("titanic", version=1, primary_key=["passengerid"])
    frame = passengers().assign(age=1.0)
    with pytest.raises(NameClashError, match="'age'"):
        fg.insert(frame)
    assert fg.commit_details().empty


def test_epoch_millisecond_event_times_become_utc_datetimes(hops, kit):
    fg = hops.get_or_create_feature_group("transactions", version=1, primary_key=["tid"], event_time="datetime",
                                          online_enabled=True)
    frame = transactions()
    fg.insert(frame)
    stored = fg.read()["datetime"]
    expected = pd.to_datetime(frame["datetime"], unit="ms", utc=True)
    assert (stored.dt.tz_convert("UTC").to_numpy() == expected.to_numpy()).all()
    # The kit's own call refuses whole numbers as times and says how to convert them.
    own = kit.get_or_create_feature_group("own", version=1, primary_key=["tid"], event_time="datetime")
    with pytest.raises(SchemaError, match="datetime"):
        own.insert(transactions())


def test_event_time_in_the_primary_key(hops, kit):
    fg = hops.get_or_create_feature_group("air", version=1, primary_key=["city", "date"], event_time="date")
    assert fg.primary_key == ["city"] and fg.event_time == "date"
    fg.insert(pd.DataFrame({"city": ["a", "a"], "date": pd.to_datetime(["2026-01-01", "2026-01-02"]),
                            "pm25": [1.0, 2.0]}))
    assert len(fg.read()) == 2  # the same rows are kept apart: the store upserts on (key, event time)
    with pytest.raises(SchemaError, match="only primary key"):
        hops.get_or_create_feature_group("air2", version=1, primary_key=["date"], event_time="date")
    with pytest.raises(SchemaError, match=r"write primary_key=\['city'\]"):
        kit.get_or_create_feature_group("air3", version=1, primary_key=["city", "date"], event_time="date")


def test_get_or_create_without_keys_returns_the_existing_group(hops):
    with pytest.raises(SchemaError, match="primary_key"):
        hops.get_or_create_feature_group("titanic", version=1)
    made = hops.get_or_create_feature_group("titanic", version=1, primary_key=["passengerid"])
    made.insert(passengers())
    again = hops.get_or_create_feature_group("titanic", version=1)
    assert again.primary_key == ["passengerid"] and len(again.read()) == 40
    assert [g.version for g in hops.get_feature_groups("titanic")] == [1]
    assert hops.get_feature_groups("nothing") == []


def test_create_feature_group_refuses_an_existing_version_and_numbers_new_ones(hops):
    first = hops.create_feature_group("titanic", primary_key=["passengerid"])
    second = hops.create_feature_group("titanic", primary_key=["passengerid"])
    assert (first.version, second.version) == (1, 2)
    with pytest.raises(ParameterError, match="exists already"):
        hops.create_feature_group("titanic", version=2, primary_key=["passengerid"])


# --------------------------------------------------------------------------- arguments


def test_arguments_that_change_nothing_are_accepted_and_the_others_refused(hops):
    fg = hops.get_or_create_feature_group(
        "titanic", version=1, primary_key=["passengerid"], partition_key=["pclass"], time_travel_format="DELTA",
        statistics_config={"enabled": True, "histograms": True}, stream=True, online_config={"table_comment": "x"})
    commit = fg.insert(passengers(), write_options={"wait_for_job": True}, wait=True)
    assert commit.rows_inserted == 40
    with pytest.raises(ParameterError, match="embedding_index"):
        hops.get_or_create_feature_group("other", version=1, primary_key=["id"], embedding_index=object())
    with pytest.raises(ParameterError, match="unknown argument"):
        hops.get_or_create_feature_group("other", version=1, primary_key=["id"], colour="blue")
    for bad, name in (({"overwrite": True}, "overwrite"), ({"operation": "insert"}, "operation"),
                      ({"storage": "online"}, "storage"),
                      ({"validation_options": {"run_validation": False}}, "validation_options")):
        with pytest.raises(ParameterError, match=name):
            fg.insert(passengers(seed=5), **bad)
    assert len(fg.commit_details()) == 1  # nothing refused was written
    with pytest.raises(ParameterTypeError, match="wait"):
        fg.insert(passengers(), wait="yes")


def test_feature_descriptions_and_statistics_config(hops, kit):
    fg = hops.get_or_create_feature_group("titanic", version=1, primary_key=["passengerid"], description="old")
    fg.insert(passengers())
    assert fg.update_feature_description("Age", "age in years") is fg
    fg.update_feature_description("sex", "as recorded").update_feature_description("sex", "as recorded, 1912")
    fg.update_description("Titanic passengers")
    fresh = kit.get_feature_group("titanic", 1)  # another handle reads what was stored
    assert fresh.feature_descriptions == {"age": "age in years", "sex": "as recorded, 1912"}
    assert fresh.description == "Titanic passengers"
    with pytest.raises(SchemaError, match="no feature 'fare'"):
        fg.update_feature_description("fare", "x")
    fg.statistics_config = {"enabled": False}
    assert fg.update_statistics_config() is fg and fg.statistics_config == {"enabled": False}
    fg.delete()
    again = hops.get_or_create_feature_group("titanic", version=1, primary_key=["passengerid"])
    again.insert(passengers())
    assert again.feature_descriptions == {}


def test_selections_as_hopsworks_writes_them(hops, kit):
    fg = hops.get_or_create_feature_group("transactions", version=1, primary_key=["tid"], event_time="datetime")
    fg.insert(transactions())
    assert fg.select("amount").read().columns.tolist() == ["tid", "datetime", "amount"]
    assert fg.select_features().plan.parts[0].features == ("cc_num", "amount")
    assert fg.select_all(include_primary_key=False, include_event_time=False).plan.parts[0].features == (
        "cc_num", "amount")
    assert fg.select_all().plan.parts[0].features == ("tid", "cc_num", "amount", "datetime")
    assert fg.show(3).equals(fg.read().head(3))
    with pytest.raises(QueryError, match=r"\['amount'\]"):  # the kit's own call refuses a bare string
        kit.get_feature_group("transactions", 1).select("amount")


def test_online_read_is_the_newest_row_per_key(hops):
    fg = hops.get_or_create_feature_group("cards", version=1, primary_key=["cc_num"], event_time="datetime",
                                          online_enabled=True)
    frame = transactions().drop(columns=["tid"])
    fg.insert(frame)
    online = fg.read(online=True)
    newest = frame.sort_values("datetime").groupby("cc_num").tail(1).sort_values("cc_num")
    assert online["cc_num"].tolist() == newest["cc_num"].tolist()
    assert online["amount"].tolist() == newest["amount"].tolist()
    offline = hops.get_or_create_feature_group("offline", version=1, primary_key=["cc_num"])
    offline.insert(frame.drop(columns=["datetime"]).drop_duplicates("cc_num"))
    with pytest.raises(ParameterError, match="online_enabled=True"):
        offline.read(online=True)


# --------------------------------------------------------------------------- feature views


def _titanic_view(fs, transformation_functions, name="titanic"):
    fg = fs.get_or_create_feature_group("titanic", version=1, primary_key=["PassengerId"])
    fg.insert(passengers(200))
    query = fg.select(["pclass", "sex", "age", "embarked", "survived"])
    return fs.get_or_create_feature_view(name, version=1, query=query, labels=["Survived"],
                                         transformation_functions=transformation_functions)


def test_builtin_transformations_as_a_list_equal_the_dict_form(hops):
    listed = _titanic_view(hops, [label_encoder("sex"), label_encoder("embarked"), standard_scaler("age")])
    named = hops.get_or_create_feature_view(
        "titanic_dict", version=1, query=listed.query, labels=["survived"],
        transformation_functions={"sex": "label_encoder", "embarked": "label_encoder",
                                  "age": hops.get_transformation_function("standard_scaler", version=1)})
    a = listed.train_test_split(test_size=0.25, seed=3)
    b = named.train_test_split(test_size=0.25, seed=3)
    for left, right in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(left, right)
    assert set(a[0]["sex"]) == {0, 1}  # encoded, not text
    bound = hops.get_transformation_function("label_encoder")("sex")
    assert bound == label_encoder("sex")
    with pytest.raises(TransformationError, match="version 1"):
        hops.get_transformation_function("label_encoder", version=2)
    with pytest.raises(ParameterTypeError, match=r"label_encoder\('sex'\)"):
        hops.get_or_create_feature_view("bad", version=1, query=listed.query, labels=["survived"],
                                         transformation_functions=[hops.get_transformation_function("min_max_scaler")])


def test_one_label_is_a_dataframe_for_hopsworks_code_and_a_series_for_the_kit(hops, kit):
    _titanic_view(hops, [label_encoder("sex")])
    _, _, y_train, y_test = hops.get_feature_view("titanic", 1).train_test_split(test_size=0.2, seed=1)
    assert isinstance(y_train, pd.DataFrame) and list(y_train.columns) == ["survived"]
    _, _, kit_train, _ = kit.get_feature_view("titanic", 1).train_test_split(test_size=0.2, seed=1)
    assert isinstance(kit_train, pd.Series)
    assert y_train["survived"].tolist() == kit_train.tolist()


def test_two_step_training_data_and_reading_it_back(hops):
    fv = _titanic_view(hops, [label_encoder("sex")])
    version, job = fv.create_train_test_split(test_size=0.2, seed=7, statistics_config=False)
    assert job is None
    again = hops.get_feature_view("titanic", 1).get_train_test_split(training_dataset_version=version)
    direct = hops.get_feature_view("titanic", 1).train_test_split(test_size=0.2, seed=7)
    for left, right in zip(again, direct, strict=True):
        pd.testing.assert_frame_equal(left, right)
    all_version, _ = fv.create_training_data(description="everything")
    X, y = fv.get_training_data(training_dataset_version=all_version)
    assert len(X) == len(y) == 200 and all_version == version + 2  # the direct split above made one too
    with pytest.raises(ParameterError, match="extra_filter"):
        fv.create_train_test_split(test_size=0.2, extra_filter=object())


def test_untransformed_batch_data_vectors_and_transform_of_a_list(hops):
    fg = hops.get_or_create_feature_group("cards", version=1, primary_key=["cc_num"], event_time="datetime",
                                          online_enabled=True)
    fg.insert(transactions().drop(columns=["tid"]))
    fv = hops.get_or_create_feature_view("cards", version=1, query=fg.select(["amount"]),
                                         transformation_functions=[standard_scaler("amount")])
    fv.train_test_split(test_size=0.3, seed=2)
    raw = fv.get_batch_data(transformed=False)
    done = fv.get_batch_data()
    assert raw["amount"].tolist() == fg.read()["amount"].tolist()
    assert done["amount"].tolist() == pytest.approx(fv.transform(raw)["amount"].tolist())
    fv.init_serving(1, feature_logger=object(), init_rest_client=True)
    plain = fv.get_feature_vector({"cc_num": 2}, transform=False)
    scaled = fv.get_feature_vector({"cc_num": 2})
    assert fv.transform(plain) == pytest.approx(scaled)
    assert fv.transform([plain, plain]) == [pytest.approx(scaled)] * 2
    assert fv.get_feature_vector({"cc_num": 2}, transform=False, return_type="dict") == {"amount": plain[0]}
    with pytest.raises(ParameterTypeError, match="one value per feature"):
        fv.transform([1.0, 2.0])
    with pytest.raises(ParameterError, match="allow_missing"):
        fv.get_feature_vector({"cc_num": 2}, allow_missing=True)


def test_create_feature_view_refuses_an_existing_version(hops):
    fv = _titanic_view(hops, [label_encoder("sex")])
    newer = hops.create_feature_view("titanic", query=fv.query, labels=["survived"])
    assert newer.version == 2
    with pytest.raises(ParameterError, match="exists already"):
        hops.create_feature_view("titanic", query=fv.query, version=1, labels=["survived"])
    with pytest.raises(FeatureGroupNotFoundError):
        hops.get_feature_group("missing", 1)
