"""The Titanic example system: a batch ML system that predicts who survives.

A feature pipeline runs once a day, a training pipeline once a week, and a
batch inference and a monitoring pipeline after every feature run, all around
the feature store. Its notebooks, schedule (``pipelines.yml``) and notebook
story are in ``notebooks/titanic/``; the exercises in ``exercises/`` use it too.

The real list has only 1309 passengers and no new ones ever board, so the daily
feature pipeline generates new passengers that look like the real ones. The
package has one module per concern:

* `systems.titanic.data`: the real passenger list, `load_passengers`, and its columns.
* `systems.titanic.generator`: `PassengerGenerator` and `generate_passengers`.
* `systems.titanic.survival`: the survival model that decides who of them survives.
* `systems.titanic.ids`: `first_passenger_id`, a block of ids per run date.
* `systems.titanic.drift`: `Drift`, a population change an instructor switches on.
* `systems.titanic.expectations`: `passenger_expectations`, the feature group's suite.
* `systems.titanic.fares`: `class_fares`, daily ticket prices for the point-in-time exercise.

Notebooks import the package and use the names below: ``from systems import
titanic; titanic.load_passengers()``.
"""

from __future__ import annotations

from .data import BOARDED_AT, COLUMNS, FEATURES, LABEL, TITANIC_CSV, load_passengers
from .drift import Drift, drift_from_parameters
from .expectations import passenger_expectations
from .fares import BASE_FARES, class_fares
from .generator import PassengerGenerator, generate_passengers
from .ids import IDS_PER_DAY, first_passenger_id

__all__ = [
    "BASE_FARES",
    "BOARDED_AT",
    "COLUMNS",
    "FEATURES",
    "IDS_PER_DAY",
    "LABEL",
    "TITANIC_CSV",
    "Drift",
    "PassengerGenerator",
    "class_fares",
    "drift_from_parameters",
    "first_passenger_id",
    "generate_passengers",
    "load_passengers",
    "passenger_expectations",
]
