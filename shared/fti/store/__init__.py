"""The store core: feature store and model registry in one folder.

Public objects, the names students learn (like the Hopsworks client's):
``feature_store`` (`FeatureStore`), ``feature_group`` (`FeatureGroup`),
``query`` (`Query`), ``feature_view`` (`FeatureView`), ``registry``
(`ModelRegistry`, `Model`). They are thin: the work is done by ``engine``,
which takes names and versions, and by the modules below it: ``storage`` (the
folder and its DuckDB connections), ``schema`` (column types), ``online``
(SQLite lookups), ``validation`` (Great Expectations), ``transformations``
(encoders and scalers) and ``artifacts`` (model files).

This layer never imports the run layer, the teaching layer or an example system.
"""
