"""The Hopsworks feature store client's import paths (``hsfs``), for labs written against it.

A lab that imports ``from hsfs.feature import Feature`` (or ``from hopsworks.hsfs...``)
reads ``from fti.hsfs.feature import Feature`` here; the objects are the kit's own:

* ``fti.hsfs.feature``: `Feature`, whose comparisons make filters (``fg.amount > 100``);
* ``fti.hsfs.constructor.filter``: `Filter` and `Logic`, combined with ``&`` and ``|``;
* ``fti.hsfs.constructor.query``: `Query`, with ``filter``, ``to_string`` and ``show``;
* ``fti.hsfs.builtin_transformations``: ``label_encoder``, ``standard_scaler``...

The feature store, feature groups and feature views themselves come from
``fti.login().get_feature_store()``, as ``hopsworks.login().get_feature_store()`` there.
"""
