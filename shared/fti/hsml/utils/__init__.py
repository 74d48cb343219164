"""``hsml.utils``: the older (Hopsworks 3.0) import paths of `Schema` and `ModelSchema`."""
