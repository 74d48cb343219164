"""Drift: a change of the passenger population from a given date on, for monitoring exercises.

An instructor switches it on with the feature pipeline's notebook parameters
(``drift_start``, ``drift_age_shift``, ``drift_class_mix``); the generator then
applies it to every run date from ``drift_start`` on, so the monitoring
notebook has something to find.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from fti.exceptions import ParameterError, ParameterTypeError
from fti.teach import synthetic

__all__ = ["Drift", "drift_from_parameters"]


@dataclass(frozen=True)
class Drift(synthetic.DriftSwitch):
    """A change of the passenger population from ``start`` on, for monitoring exercises.

    Generation for a ``run_date`` before ``start`` ignores the drift entirely
    (the frame is identical to one generated without drift). From ``start`` on:

    Attributes:
        start: First run date affected (a date, or ``"YYYY-MM-DD"``; stored as a date).
        age_shift: Years added to every known age (e.g. ``10.0``: an older
            population). Shifted ages may leave the real range 0.17-80 (that
            is what a monitor should notice) but are clipped to 0-120. Family
            sizes follow the shifted age and so does survival, through the
            model: the data drift also moves the label distribution.
        class_mix: Probabilities of pclass 1, 2, 3 replacing the real
            frequencies (about 0.25, 0.21, 0.54), e.g. ``(0.6, 0.3, 0.1)``.
            Must be three non-negative numbers summing to 1. Sex, age and
            family still follow their real distributions given the class.
        survival_shift: Added to the log-odds of survival (concept drift: the
            same passengers survive more, positive, or less, negative, often than
            the model learnt from the real data says). ``1.0`` turns a 38%
            chance into about 62%.

    Raises:
        ParameterError: Malformed ``start``, non-finite shift, or a ``class_mix``
            of the wrong length, with negative entries or not summing to 1 (a ``ValueError`` too).
        ParameterTypeError: An argument of the wrong type (a ``TypeError`` too).
    """

    age_shift: float = 0.0
    class_mix: tuple[float, float, float] | None = None
    survival_shift: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        # Normalised in place so that equal drifts compare and hash equal, whatever form they were given in.
        self._normalise("age_shift", synthetic.as_finite_float(self.age_shift, "Drift age_shift"))
        self._normalise("survival_shift", synthetic.as_finite_float(self.survival_shift, "Drift survival_shift"))
        if self.class_mix is not None:
            self._normalise("class_mix", _checked_class_mix(self.class_mix))


def _checked_class_mix(mix: object) -> tuple[float, float, float]:
    """The three class probabilities of a `Drift`, as a tuple of floats."""
    if isinstance(mix, (str, bytes)) or not hasattr(mix, "__len__"):
        raise ParameterTypeError(f"Drift class_mix must be a sequence of 3 probabilities, not {type(mix).__name__}")
    if len(mix) != 3:
        raise ParameterError(
            f"Drift class_mix must have 3 probabilities (pclass 1, 2, 3), got {len(mix)}: {tuple(mix)!r}"
        )
    probs = tuple(synthetic.as_finite_float(p, f"Drift class_mix[{i}]") for i, p in enumerate(mix))
    if min(probs) < 0:
        raise ParameterError(f"Drift class_mix probabilities must be >= 0, got {probs!r}")
    if not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
        raise ParameterError(f"Drift class_mix must sum to 1, got {probs!r} (sum {sum(probs):g})")
    return probs


def drift_from_parameters(start: str | date | None, age_shift: float = 0.0, class_mix: str = "") -> Drift | None:
    """Build a `Drift` from notebook parameters; None when ``start`` is empty.

    Args:
        start: First run date with drift (``"YYYY-MM-DD"``), or ``""`` for no drift.
        age_shift: Years added to every generated age.
        class_mix: Shares of classes 1, 2, 3 as ``"0.6,0.3,0.1"``, or ``""`` to keep the real mix.

    Returns:
        The drift, or None when drift is off (the other parameters are then not checked).

    Raises:
        ParameterError: A malformed ``start`` or ``class_mix``, or values `Drift` rejects.
        ParameterTypeError: A parameter of the wrong type.
    """
    day = synthetic.drift_start(start)
    if day is None:
        return None
    mix = synthetic.numbers_from_text(class_mix, "class_mix", count=3)
    return Drift(start=day, age_shift=age_shift, class_mix=mix)
