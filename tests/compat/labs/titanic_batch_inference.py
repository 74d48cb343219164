"""Titanic lab, part 4: batch inference with the registered model.

Download the model, read the batch data through the feature view with the same
transformations as in training, and predict.
"""

# %% Cell 1: imports and login
import joblib
import pandas as pd

import fti as hopsworks

project = hopsworks.login()
fs = project.get_feature_store()
mr = project.get_model_registry()

# %% Cell 2: download the model
model = mr.get_model("titanic", version=1)
model_dir = model.download()
classifier = joblib.load(model_dir + "/model.pkl")
print(f"model {model.name} v{model.version}, metrics {model.training_metrics}")

# %% Cell 3: the feature view, with the transformation statistics of training dataset 1
feature_view = fs.get_feature_view("titanic", version=1)
feature_view.init_batch_scoring(training_dataset_version=1)

# %% Cell 4: the batch data, transformed as in training, and predictions
batch = feature_view.get_batch_data()
print(batch.head())
predictions = classifier.predict(batch)
print(f"{len(predictions)} passengers scored, predicted survival rate {predictions.mean():.2f}")
assert 0.1 < predictions.mean() < 0.7, "a survival rate far from the ship's 38% means the features are off"

# %% Cell 5: the same rows untransformed, to read the predictions next to the raw features
raw = feature_view.get_batch_data(transformed=False)
report = raw.assign(predicted_survived=predictions)
print(report.groupby(["sex", "pclass"])["predicted_survived"].mean())
assert set(raw["sex"].unique()) <= {"male", "female"}, "untransformed data must show the original sex values"

# %% Cell 6: what the feature view reads
print(feature_view.query.to_string())
print(feature_view.get_batch_query())

# %% Cell 7: get_or_create without keys returns the existing group, untouched
titanic_fg = fs.get_or_create_feature_group(name="titanic", version=1)
print(titanic_fg.primary_key)
assert titanic_fg.primary_key == ["passengerid"], titanic_fg.primary_key
assert len(titanic_fg.read()) == len(raw), "batch data and feature group disagree on the passengers"

# %% Cell 8: keep the predictions as a table for the dashboard
pd.DataFrame({"predicted_survived": predictions}).to_csv("titanic_predictions.csv", index=False)
