"""Titanic lab, part 3: the training pipeline.

Select features, build a feature view with label encoding, split, train a
scikit-learn classifier, and register it with its schema, metrics and plots.
"""

# %% Cell 1: imports and login
import os

import joblib
import matplotlib.pyplot as plt
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, f1_score

import fti as hopsworks
from fti.hsfs.builtin_transformations import label_encoder
from fti.hsml.model_schema import ModelSchema
from fti.hsml.schema import Schema

project = hopsworks.login()
fs = project.get_feature_store()

# %% Cell 2: select the features (names are lower-case in Hopsworks)
titanic_fg = fs.get_feature_group(name="titanic", version=1)
query = titanic_fg.select(["pclass", "sex", "age", "sibsp", "parch", "survived"])
print(query.read().head())

# %% Cell 3: the feature view, with the label and a label encoder for sex
feature_view = fs.get_or_create_feature_view(
    name="titanic",
    version=1,
    description="Passenger features to predict survival",
    query=query,
    labels=["survived"],
    transformation_functions=[label_encoder("sex")],
)

# %% Cell 4: training and test data (y is a DataFrame with one column)
X_train, X_test, y_train, y_test = feature_view.train_test_split(test_size=0.2, seed=42)
print(X_train.head())
print(f"{len(X_train)} training rows, {len(X_test)} test rows, label columns {list(y_train.columns)}")

# %% Cell 5: train a random forest
model = RandomForestClassifier(n_estimators=200, max_depth=5, random_state=42)
model.fit(X_train, y_train.values.ravel())

# %% Cell 6: evaluate on the test set
y_pred = model.predict(X_test)
f1 = f1_score(y_test.values.ravel(), y_pred)
accuracy = accuracy_score(y_test.values.ravel(), y_pred)
print(f"F1 {f1:.3f}, accuracy {accuracy:.3f}")

# %% Cell 7: save the model and a confusion matrix in one folder
model_dir = "titanic_model"
os.makedirs(model_dir, exist_ok=True)
joblib.dump(model, os.path.join(model_dir, "model.pkl"))
ConfusionMatrixDisplay.from_predictions(y_test.values.ravel(), y_pred, display_labels=["died", "survived"])
plt.title("Titanic survival: test set")
plt.savefig(os.path.join(model_dir, "confusion_matrix.png"))

# %% Cell 8: register the model with its schema and an input example
mr = project.get_model_registry()
model_schema = ModelSchema(input_schema=Schema(X_train), output_schema=Schema(y_train))
titanic_model = mr.python.create_model(
    name="titanic",
    metrics={"f1 score": f1, "accuracy": accuracy},
    model_schema=model_schema,
    input_example=X_train.sample(1, random_state=1),
    description="Random forest predicting Titanic survival",
)
titanic_model.save(model_dir)
print(f"registered {titanic_model.name} version {titanic_model.version}")
