"""The built-in transformation functions, named and called as in the Hopsworks client.

Hopsworks code imports them with ``from hopsworks.hsfs.builtin_transformations import
label_encoder``; here that line reads ``from fti.hsfs.builtin_transformations import
label_encoder``. Each one takes the feature it transforms and goes in a feature view's
list of transformation functions::

    fv = fs.get_or_create_feature_view(
        name="titanic", version=1, query=query, labels=["survived"],
        transformation_functions=[label_encoder("sex"), standard_scaler("age")],
    )

They are the kit's transformations (`fti.store.transformations`), fitted on the
training split and applied alike in training, batch and online inference. The
transformed column keeps the feature's name here (Hopsworks names it e.g.
``label_encoder_sex_``).
"""

from __future__ import annotations

from fti.store.transformations import (
    BoundTransformation,
    LabelEncoder,
    MinMaxScaler,
    OneHotEncoder,
    StandardScaler,
)

__all__ = ["label_encoder", "min_max_scaler", "one_hot_encoder", "standard_scaler"]


def label_encoder(feature: str) -> BoundTransformation:
    """Categories to integer codes 0..k-1 in sorted order, learned on the training rows (unseen: -1)."""
    return LabelEncoder()(feature)


def one_hot_encoder(feature: str) -> BoundTransformation:
    """One 0/1 column per category seen in the training rows."""
    return OneHotEncoder()(feature)


def standard_scaler(feature: str) -> BoundTransformation:
    """Subtract the training mean and divide by the training standard deviation."""
    return StandardScaler()(feature)


def min_max_scaler(feature: str) -> BoundTransformation:
    """Scale to [0, 1] with the training minimum and maximum."""
    return MinMaxScaler()(feature)
