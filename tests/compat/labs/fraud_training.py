"""Card fraud lab, part 2: a logged feature view, a training dataset and a model.

The view joins each payment with its card's history; both groups have a
`datetime` event time, so the join is point-in-time correct.
"""

# %% Cell 1: imports and login
import os

import joblib
from sklearn.metrics import f1_score
from xgboost import XGBClassifier

import fti as hopsworks
from fti.hsfs.builtin_transformations import label_encoder, standard_scaler
from fti.hsml.model_schema import ModelSchema
from fti.hsml.schema import Schema

project = hopsworks.login()
fs = project.get_feature_store()

# %% Cell 2: select the features and join the card history on cc_num
trans_fg = fs.get_feature_group("transactions", version=1)
card_fg = fs.get_feature_group("card_aggs", version=1)
query = trans_fg.select(["amount", "category", "fraud_label"]).join(
    card_fg.select(["txn_count", "avg_amount", "max_amount"]), on=["cc_num"]
)
print(query.read().head())

# %% Cell 3: the feature view, logging enabled for the online service
feature_view = fs.get_or_create_feature_view(
    name="fraud",
    version=1,
    description="Payment and card-history features to score fraud",
    query=query,
    labels=["fraud_label"],
    transformation_functions=[label_encoder("category"), standard_scaler("amount")],
    logging_enabled=True,
)

# %% Cell 4: a materialized train/test split, then read it back
td_version, td_job = feature_view.create_train_test_split(
    test_size=0.2, description="Fraud training data, January 2024", seed=42
)
X_train, X_test, y_train, y_test = feature_view.get_train_test_split(training_dataset_version=td_version)
print(f"training dataset version {td_version}: {len(X_train)} train rows, {len(X_test)} test rows")
print(X_train.head())

# %% Cell 5: train a gradient-boosted classifier
model = XGBClassifier(n_estimators=100, max_depth=3, learning_rate=0.2, random_state=42)
model.fit(X_train, y_train.values.ravel())
f1 = f1_score(y_test.values.ravel(), model.predict(X_test))
print(f"test F1 {f1:.3f}")

# %% Cell 6: save the model file and register it
model_dir = "fraud_model"
os.makedirs(model_dir, exist_ok=True)
joblib.dump(model, os.path.join(model_dir, "fraud_model.pkl"))

mr = project.get_model_registry()
fraud_model = mr.python.create_model(
    name="fraud",
    metrics={"f1 score": f1},
    model_schema=ModelSchema(input_schema=Schema(X_train), output_schema=Schema(y_train)),
    input_example=X_train.sample(1, random_state=1),
    description="XGBoost fraud classifier on payment and card-history features",
    feature_view=feature_view,
    training_dataset_version=td_version,
)
fraud_model.save(model_dir)
print(f"registered {fraud_model.name} version {fraud_model.version}")
