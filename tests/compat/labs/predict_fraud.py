"""Predictor script for the fraud deployment (KServe style): loads the model, looks up features, logs."""

import os

import joblib
import pandas as pd

import fti as hopsworks


class Predict:
    def __init__(self):
        """Runs once when the deployment starts."""
        project = hopsworks.login()
        fs = project.get_feature_store()
        self.feature_view = fs.get_feature_view("fraud", version=1)
        self.feature_view.init_serving(1)
        self.model = joblib.load(os.environ["MODEL_FILES_PATH"] + "/fraud_model.pkl")

    def predict(self, inputs):
        """Score each payment named by its tid and card number, and log it."""
        predictions = []
        for entry in inputs:
            keys = {"tid": entry["tid"], "cc_num": entry["cc_num"]}
            untransformed = self.feature_view.get_feature_vector(keys, transform=False, return_type="pandas")
            transformed = self.feature_view.get_feature_vector(keys, return_type="pandas")
            prediction = int(self.model.predict(transformed)[0])
            self.feature_view.log(
                untransformed,
                transformed_features=transformed,
                predictions=pd.DataFrame({"fraud_label": [prediction]}),
            )
            predictions.append(prediction)
        return predictions
