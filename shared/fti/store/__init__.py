"""The store core: feature store and model registry in one folder.

Public objects, the names students learn (like the Hopsworks client's):
``registry`` (`ModelRegistry`, `Model`), ``deployment`` (`ModelServing`, `Deployment`:
a model's predictor script run in-process), ``feature_store`` (`FeatureStore`),
``feature_view`` (`FeatureView`), ``feature_group`` (`FeatureGroup`) and ``query``
(`Query`). They are thin: they check and shape arguments (with ``arguments``),
delegate to an engine and wrap its answers.

The engines take names, versions and plain data (frozen dataclasses, DataFrames)
and never import the public objects. ``engine`` wires one store folder's engines
together: ``feature_view_engine`` (view records, training datasets, serving plans)
and ``model_engine`` (model versions, aliases, artifacts), ``query_engine`` (query
plans and point-in-time SQL) and ``feature_group_engine`` (feature group records,
commits, ``as_of``, the online copy). Below them: ``online`` (SQLite lookups),
``storage`` (the folder and its DuckDB connections), ``schema`` (column types),
``validation`` (Great Expectations), ``transformations`` (encoders and scalers),
``filters`` (features and the filters their comparisons make), ``model_schema``
(a model's input and output schema) and ``artifacts`` (model files).

Each module imports only the ones after it in that order (an import-linter
``layers`` contract in ``pyproject.toml`` checks it). This layer never imports the
run layer, the teaching layer or an example system.
"""
