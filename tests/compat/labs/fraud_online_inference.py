"""Card fraud lab, part 3: deploy the model behind a predictor script and score payments online.

Every request is logged through the feature view, so the log can be read back.
"""

# %% Cell 1: imports and login
import os

import pandas as pd

import fti as hopsworks

project = hopsworks.login()
fs = project.get_feature_store()
mr = project.get_model_registry()

# %% Cell 2: upload the predictor script to the project
dataset_api = project.get_dataset_api()
uploaded_file_path = dataset_api.upload("predict_fraud.py", "Resources", overwrite=True)
predictor_script_path = os.path.join("/Projects", project.name, uploaded_file_path)
print(predictor_script_path)

# %% Cell 3: deploy the registered model with that script
fraud_model = mr.get_model("fraud", version=1)
fraud_model.deploy(
    name="fraudonline",
    description="Scores card payments for fraud",
    script_file=predictor_script_path,
)

# %% Cell 4: find the deployment through model serving and start it
ms = project.get_model_serving()
deployment = ms.get_deployment("fraudonline")
deployment.start(await_running=180)
deployment.get_state().describe()

# %% Cell 5: score two payments reported as fraud and three from the end of the month
trans_fg = fs.get_feature_group("transactions", version=1)
payments = trans_fg.read().sort_values("datetime")
to_score = pd.concat([payments[payments["fraud_label"] == 1].tail(2), payments.tail(3)])
results = []
for tid, cc_num in zip(to_score["tid"], to_score["cc_num"], strict=True):
    response = deployment.predict(inputs=[{"tid": int(tid), "cc_num": int(cc_num)}])
    print(f"PREDICTION {tid} {response['predictions'][0]}")
    results.append(response["predictions"][0])
assert all(p in (0, 1) for p in results), results
print(f"PREDICT_CALLS {len(results)}")

# %% Cell 6: the feature view logged every request with its prediction
feature_view = fs.get_feature_view("fraud", version=1)
feature_view.materialize_log(wait=True)
log = feature_view.read_log()
print(log.tail())
assert len(log) == len(results), f"{len(results)} requests but {len(log)} log rows"

# %% Cell 7: stop the deployment
deployment.stop(await_stopped=180)
