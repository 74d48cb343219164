"""The Titanic passenger list and a generator of new, synthetic passengers.

The Titanic example of the course is a batch ML system: a feature pipeline that
runs once a day, a training pipeline and a batch inference pipeline, all around
the feature store. The real list has only 1309 passengers and no new ones ever
board, so the daily feature pipeline needs *new* passengers that look like the
real ones. This module provides both:

* `load_passengers` reads and validates the real list (``data/titanic.csv``).
* `PassengerGenerator` is fitted once on the real list and samples new
  passengers from its joint distribution, with survival drawn from a logistic
  regression of the real outcome.
* `Drift` lets an instructor change the population from a given date on, so
  the monitoring notebook has something to find.
* `generate_passengers` is the one-call version used by the feature pipeline.

Every generated frame is a pure function of the fitted data, ``run_date``,
``n``, ``first_id`` and ``drift``: the random generator is seeded from the
date's ordinal (never Python's ``hash()``, which is salted per process), so a
re-run of the pipeline, or a notebook executed on another day, writes exactly
the same rows.
"""

from __future__ import annotations

import functools
import math
import numbers
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from fti.exceptions import SchemaError
from fti.paths import DATA_DIR

__all__ = [
    "FEATURES",
    "IDS_PER_DAY",
    "LABEL",
    "TITANIC_CSV",
    "BOARDED_AT",
    "COLUMNS",
    "Drift",
    "PassengerGenerator",
    "generate_passengers",
    "drift_from_parameters",
    "first_passenger_id",
    "load_passengers",
    "passenger_expectations",
]

FEATURES: list[str] = ["pclass", "sex", "age", "sibsp", "parch"]
"""What the model may use to predict survival."""

LABEL = "survived"
"""What the model predicts."""

IDS_PER_DAY = 1000
"""Passenger ids reserved per run date, so a day's ids never depend on earlier runs."""

_FIRST_DAY = date(2000, 1, 1)

TITANIC_CSV: Path = DATA_DIR / "titanic.csv"
"""Default location of the real passenger list (a plain copy of the kit's data file)."""

BOARDED_AT: pd.Timestamp = pd.Timestamp("1912-04-10 12:00", tz="UTC").as_unit("us")
"""Event time of every real passenger: the Southampton departure, 10 April 1912, noon."""

COLUMNS: tuple[str, ...] = ("passenger_id", "boarded_at", "pclass", "sex", "age", "sibsp", "parch", "survived")
"""Columns of `load_passengers` and `PassengerGenerator.generate`, in order."""

# The six columns of the data file; anything else in the file is ignored.
_RAW_COLUMNS: tuple[str, ...] = ("pclass", "sex", "age", "sibsp", "parch", "survived")

_DTYPES: dict[str, str] = {
    "passenger_id": "int64",
    "boarded_at": "datetime64[us, UTC]",
    "pclass": "int64",
    "sex": "str",
    "age": "float64",
    "sibsp": "int64",
    "parch": "int64",
    "survived": "int64",
}

_CLASSES: tuple[int, ...] = (1, 2, 3)
_SEXES: tuple[str, ...] = ("female", "male")

# An age of more than 120 years is impossible; an age of 0 is a newborn.
_AGE_LIMIT = 120.0

# Age bands for the family-size model: children travel with parents, young
# adults with siblings or spouses, older passengers alone or with spouses.
# Lower bounds in years; the last band is open-ended. Missing age is a band of its own.
_AGE_BAND_EDGES: tuple[float, ...] = (13.0, 18.0, 30.0, 45.0, 60.0)
_MISSING_BAND = -1

# A cell (e.g. first-class children: 5 real passengers) with fewer rows than
# this borrows from a wider cell, so one odd family does not dominate.
_MIN_CELL = 5

# Age jitter: new passengers should not be exact copies of real ones, and the
# real ages are heaped on whole years. Standard deviation min(2 years, age/4)
# keeps infants infants while barely changing the spread of adult ages
# (sd ~13 years becomes ~13.15).
_AGE_JITTER_YEARS = 2.0
_AGE_JITTER_FRACTION = 0.25

# Ages after drift may leave the real range (that is the point of drift),
# but stay physically possible.
_DRIFT_AGE_LIMITS = (0.0, _AGE_LIMIT)

# Mixed into every seed so these streams differ from other seeded generators
# in the kit that might also use the date ordinal ("TITA" in ASCII).
_SEED_SALT = 0x54495441

# Survival model: a deliberately simple, explainable logistic regression. The
# interactions capture the famous pattern (women and children first, but much
# less so in third class); on the real data 5-fold CV accuracy is about 0.80
# versus 0.79 for main effects only.
_SURVIVAL_FEATURES: tuple[str, ...] = (
    "female",
    "class_2",
    "class_3",
    "age_decades",
    "age_missing",
    "child",
    "sibsp",
    "parch",
    "female_x_class_2",
    "female_x_class_3",
    "female_x_age_decades",
    "class_3_x_family",
)
_CHILD_AGE = 13.0

# Order of the uniform random streams drawn for every call of `generate`. Each
# aspect of a passenger uses its own stream, and all streams are drawn whatever
# the drift, so a drift changes only what it is meant to change: the same
# run_date with and without drift gives the same passengers except for the
# drifted aspects and their consequences.
_STREAMS: tuple[str, ...] = ("pclass", "sex", "age_missing", "age_pick", "family", "survived", "time")

# ---------------------------------------------------------------------------
# Loading the real data
# ---------------------------------------------------------------------------

def load_passengers(path: str | Path | None = None) -> pd.DataFrame:
    """Read and clean the real passenger list.

    Missing ages stay missing (NaN): they are a fact of the data, and imputing
    them is the training pipeline's job, where students can see it.

    Args:
        path: CSV file with the columns ``pclass, sex, age, sibsp, parch,
            survived`` (other columns are ignored). Defaults to `TITANIC_CSV`.
            A relative path is relative to the current directory.

    Returns:
        One row per passenger, columns `COLUMNS` with dtypes ``passenger_id``
        int64 (1..N in file order), ``boarded_at`` datetime64[us, UTC] (always
        `BOARDED_AT`), ``pclass`` int64 (1-3), ``sex`` str (``"male"`` or
        ``"female"``), ``age`` float64 (years, NaN if unknown), ``sibsp``,
        ``parch`` and ``survived`` int64. Index 0..N-1.

    Raises:
        FileNotFoundError: No file at ``path``.
        SchemaError: The file has no rows, lacks a column, or has an impossible
            value (unknown class or sex, negative or non-integer count, age
            outside 0-120, survived not 0/1); the message names the file, the
            column and the offending lines.
    """
    file = Path(path) if path is not None else TITANIC_CSV
    if not file.is_file():
        raise FileNotFoundError(f"passenger list {file}: no such file (the kit keeps a copy in data/titanic.csv)")
    # Read everything as text and convert column by column, so a stray value
    # produces an error that names it instead of a silently widened dtype.
    raw = pd.read_csv(file, dtype=str, skipinitialspace=True)
    raw.columns = [str(c).strip() for c in raw.columns]
    clean = _clean(raw, source=f"passenger list {file}", line_numbers=True)
    return _with_ids_and_times(clean)

def _with_ids_and_times(clean: pd.DataFrame) -> pd.DataFrame:
    """Add passenger_id 1..N and the common boarding time to cleaned real rows."""
    n = len(clean)
    frame = pd.DataFrame(
        {
            "passenger_id": np.arange(1, n + 1, dtype="int64"),
            "boarded_at": pd.Series([BOARDED_AT] * n, dtype=_DTYPES["boarded_at"]),
        }
    )
    for column in _RAW_COLUMNS:
        frame[column] = clean[column].to_numpy()
    return frame.astype(_DTYPES)

def _clean(raw: pd.DataFrame, *, source: str, line_numbers: bool) -> pd.DataFrame:
    """Validate and convert the six data columns of ``raw``.

    Args:
        raw: Frame with at least the `_RAW_COLUMNS`, of any dtypes (text from a
            CSV file or already-typed columns).
        source: What to call ``raw`` in error messages.
        line_numbers: Report offending rows as file line numbers (header is
            line 1) instead of index labels.

    Returns:
        A new frame with exactly `_RAW_COLUMNS`, dtypes as in `_DTYPES`, index 0..N-1.
    """
    missing = [c for c in _RAW_COLUMNS if c not in raw.columns]
    if missing:
        raise SchemaError(
            f"{source}: missing column(s) {', '.join(map(repr, missing))}; expected {', '.join(_RAW_COLUMNS)}"
            f" (found {', '.join(map(str, raw.columns)) or 'none'})"
        )
    if len(raw) == 0:
        raise SchemaError(f"{source}: no rows")

    def where(bad: np.ndarray) -> str:
        # Name the first few offending rows in the reader's terms: file lines or index labels.
        positions = np.flatnonzero(bad)
        if line_numbers:
            shown = ", ".join(str(p + 2) for p in positions[:5])
            label = "line" if len(positions) == 1 else "lines"
        else:
            shown = ", ".join(repr(raw.index[p]) for p in positions[:5])
            label = "index label" if len(positions) == 1 else "index labels"
        more = f" and {len(positions) - 5} more" if len(positions) > 5 else ""
        return f"{label} {shown}{more}"

    def examples(column: str, bad: np.ndarray) -> str:
        values = raw[column].to_numpy()[bad][:3]
        return ", ".join(repr(v) for v in values)

    out: dict[str, np.ndarray] = {}

    # sex: the only text column; tolerate case and surrounding spaces.
    sex_raw = raw["sex"]
    sex_missing = sex_raw.isna().to_numpy()
    if sex_missing.any():
        raise SchemaError(f"{source}: column 'sex' has missing values at {where(sex_missing)}")
    sex = sex_raw.astype("str").str.strip().str.lower()
    bad = ~sex.isin(_SEXES).to_numpy()
    if bad.any():
        raise SchemaError(
            f"{source}: column 'sex' must be 'male' or 'female'; got {examples('sex', bad)} at {where(bad)}"
        )
    out["sex"] = sex.to_numpy(dtype=object)

    # Numeric columns: (name, may be missing, must be integer, allowed range, what the range means).
    rules = (
        ("pclass", False, True, (1, 3), "a passenger class 1, 2 or 3"),
        ("age", True, False, (0.0, _AGE_LIMIT), f"an age in years between 0 and {_AGE_LIMIT:g}"),
        ("sibsp", False, True, (0, math.inf), "a count of siblings/spouses >= 0"),
        ("parch", False, True, (0, math.inf), "a count of parents/children >= 0"),
        ("survived", False, True, (0, 1), "0 or 1"),
    )
    for column, nullable, integer, (low, high), meaning in rules:
        values = raw[column]
        if pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
            values = values.astype("str").str.strip()
        number = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
        absent = raw[column].isna().to_numpy()
        unparsable = np.isnan(number) & ~absent
        if unparsable.any():
            raise SchemaError(
                f"{source}: column '{column}' must be {meaning}; got non-numbers {examples(column, unparsable)}"
                f" at {where(unparsable)}"
            )
        if absent.any() and not nullable:
            raise SchemaError(f"{source}: column '{column}' has missing values at {where(absent)}")
        known = ~np.isnan(number)
        bad = known & ~((number >= low) & (number <= high))
        if integer:
            bad |= known & np.isfinite(number) & (number != np.round(number))
        if bad.any():
            raise SchemaError(
                f"{source}: column '{column}' must be {meaning}; got {examples(column, bad)} at {where(bad)}"
            )
        out[column] = number

    return pd.DataFrame({c: out[c] for c in _RAW_COLUMNS}).astype({c: _DTYPES[c] for c in _RAW_COLUMNS})

# ---------------------------------------------------------------------------
# Dates and arguments
# ---------------------------------------------------------------------------

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

def _as_date(value: object, what: str) -> date:
    """Turn a date, a datetime (its UTC date) or an ISO ``YYYY-MM-DD`` string into a date."""
    if isinstance(value, datetime):
        # A datetime is a date too; take its calendar day in UTC, the day the pipeline runs for.
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return date(value.year, value.month, value.day)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            # Only the plain calendar form: "2024-05-01". Times are rejected so
            # "2024-05-01T23:00+02:00" cannot silently mean two different days,
            # and so are the other ISO forms fromisoformat accepts ("20240501", "2024-W18-3").
            if not _ISO_DATE.fullmatch(text):
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{what} {value!r} is not a date in the form YYYY-MM-DD") from None
    raise TypeError(f"{what} must be a datetime.date or a 'YYYY-MM-DD' string, not {type(value).__name__}")

def _as_int(value: object, what: str) -> int:
    """Accept Python and NumPy integers (not bools, not floats) as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, not {type(value).__name__} {value!r}")
    return int(value)

def _as_finite_float(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, not {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return number

# ---------------------------------------------------------------------------
# Drift
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Drift:
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
        ValueError: Malformed ``start``, non-finite shift, or a ``class_mix``
            of the wrong length, with negative entries or not summing to 1.
        TypeError: An argument of the wrong type.
    """

    start: date | str
    age_shift: float = 0.0
    class_mix: tuple[float, float, float] | None = None
    survival_shift: float = 0.0

    def __post_init__(self) -> None:
        # Normalise in place (frozen, hence object.__setattr__) so that equal
        # drifts compare and hash equal, whatever form they were given in.
        object.__setattr__(self, "start", _as_date(self.start, "Drift start"))
        object.__setattr__(self, "age_shift", _as_finite_float(self.age_shift, "Drift age_shift"))
        object.__setattr__(self, "survival_shift", _as_finite_float(self.survival_shift, "Drift survival_shift"))
        if self.class_mix is not None:
            mix = self.class_mix
            if isinstance(mix, (str, bytes)) or not hasattr(mix, "__len__"):
                raise TypeError(f"Drift class_mix must be a sequence of 3 probabilities, not {type(mix).__name__}")
            if len(mix) != 3:
                raise ValueError(
                    f"Drift class_mix must have 3 probabilities (pclass 1, 2, 3), got {len(mix)}: {tuple(mix)!r}"
                )
            probs = tuple(_as_finite_float(p, f"Drift class_mix[{i}]") for i, p in enumerate(mix))
            if min(probs) < 0:
                raise ValueError(f"Drift class_mix probabilities must be >= 0, got {probs!r}")
            if not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
                raise ValueError(f"Drift class_mix must sum to 1, got {probs!r} (sum {sum(probs):g})")
            object.__setattr__(self, "class_mix", probs)

    def applies_to(self, run_date: date | str) -> bool:
        """Whether the drift is in effect for ``run_date`` (on or after `start`)."""
        return _as_date(run_date, "run_date") >= self.start

# ---------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------

def _age_band(age: np.ndarray) -> np.ndarray:
    """Band index 0..len(edges) per age; `_MISSING_BAND` for NaN."""
    band = np.searchsorted(np.asarray(_AGE_BAND_EDGES), np.nan_to_num(age, nan=0.0), side="right")
    return np.where(np.isnan(age), _MISSING_BAND, band).astype(np.int64)

def _first_big_enough(candidates: list[np.ndarray], minimum: int) -> np.ndarray:
    """The first candidate cell with at least ``minimum`` rows, else the largest one."""
    for cell in candidates:
        if len(cell) >= minimum:
            return cell
    return max(candidates, key=len)

def _pick(cell: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Resample rows of ``cell`` with uniforms ``u`` in [0, 1): row floor(u * len)."""
    index = np.minimum((u * len(cell)).astype(np.int64), len(cell) - 1)
    return cell[index]

class PassengerGenerator:
    """Samples new passengers from the joint distribution of a fitted passenger list.

    The joint distribution is built as a chain of conditionals, each estimated
    from the real data (so each step can be explained and checked on its own):

    1. pclass from its frequencies;
    2. sex given pclass (share of women per class);
    3. age given (pclass, sex): missing with the real missing-age rate of that
       cell (missing ages are far more common in third class), otherwise a real
       age of the cell resampled with a small Gaussian jitter (sd = min(2
       years, age/4)), rounded to 0.01 and clipped to the real range
       (0.17-80 for the real list);
    4. (sibsp, parch) given (pclass, age band): a real pair from the same cell,
       resampled jointly since the two counts are correlated (small cells
       borrow from the same band in all classes);
    5. survived ~ Bernoulli(p), with p from a logistic regression fitted on
       the real outcome (sex, class, age imputed by the (pclass, sex) median,
       a missing-age flag, a child flag, sibsp, parch and interactions of sex
       with class and age and of third class with family size).

    Create it with `fit`; it is immutable afterwards, and `generate` has no
    side effects, so one instance can serve many run dates.
    """

    def __init__(self, *, _fitted: dict) -> None:
        # Private: use PassengerGenerator.fit. The dict holds the fitted tables.
        self._class_probs: np.ndarray = _fitted["class_probs"]
        self._female_prob: dict[int, float] = _fitted["female_prob"]
        self._missing_age_rate: dict[tuple[int, str], float] = _fitted["missing_age_rate"]
        self._ages: dict[tuple[int, str], np.ndarray] = _fitted["ages"]
        self._age_range: tuple[float, float] = _fitted["age_range"]
        self._families: dict[tuple[int, int], np.ndarray] = _fitted["families"]
        self._age_medians: dict[tuple[int, str], float] = _fitted["age_medians"]
        self._model: LogisticRegression = _fitted["model"]
        self._n_fitted: int = _fitted["n_fitted"]

    # -- fitting -----------------------------------------------------------

    @classmethod
    def fit(cls, passengers: pd.DataFrame) -> PassengerGenerator:
        """Estimate every conditional distribution and the survival model from real passengers.

        Args:
            passengers: A frame with at least the columns ``pclass, sex, age,
                sibsp, parch, survived``, typically `load_passengers()`. It is
                validated like the CSV file and not modified.

        Returns:
            The fitted generator. The fit is deterministic (no randomness;
            the logistic regression uses the deterministic lbfgs solver) and
            does not depend on the row order except for floating-point
            rounding in the regression.

        Raises:
            TypeError: ``passengers`` is not a DataFrame.
            SchemaError: Missing columns, impossible values, no known ages, or
                an outcome with only survivors or only victims.
        """
        if not isinstance(passengers, pd.DataFrame):
            raise TypeError(f"PassengerGenerator.fit needs a pandas DataFrame, not {type(passengers).__name__}")
        data = _clean(passengers, source="passengers frame", line_numbers=False)
        pclass = data["pclass"].to_numpy()
        sex = data["sex"].to_numpy(dtype=object)
        age = data["age"].to_numpy()
        family = data[["sibsp", "parch"]].to_numpy()
        survived = data["survived"].to_numpy()

        known_age = ~np.isnan(age)
        if not known_age.any():
            raise SchemaError("passengers frame: column 'age' has no known values; cannot fit the age distribution")
        if np.unique(survived).size < 2:
            raise SchemaError(
                "passengers frame: column 'survived' has only one value; the survival model needs both 0 and 1"
            )

        n = len(data)
        class_probs = np.array([(pclass == c).sum() / n for c in _CLASSES])
        overall_female = float((sex == "female").mean())
        female_prob: dict[int, float] = {}
        for c in _CLASSES:
            in_class = pclass == c
            # A class absent from the data (possible when fitting a subset)
            # can still be drawn under a drift class_mix; use the overall share.
            female_prob[c] = float((sex[in_class] == "female").mean()) if in_class.any() else overall_female

        all_ages = np.sort(age[known_age])
        missing_age_rate: dict[tuple[int, str], float] = {}
        ages: dict[tuple[int, str], np.ndarray] = {}
        age_medians: dict[tuple[int, str], float] = {}
        overall_missing = float(np.isnan(age).mean())
        for c in _CLASSES:
            class_ages = np.sort(age[(pclass == c) & known_age])
            for s in _SEXES:
                in_cell = (pclass == c) & (sex == s)
                missing_age_rate[(c, s)] = float(np.isnan(age[in_cell]).mean()) if in_cell.any() else overall_missing
                # Sorted so the resampled values depend only on the multiset of ages, not on file order.
                cell_ages = np.sort(age[in_cell & known_age])
                chosen = _first_big_enough([cell_ages, class_ages, all_ages], _MIN_CELL)
                ages[(c, s)] = chosen
                age_medians[(c, s)] = float(np.median(chosen))

        bands = _age_band(age)
        families: dict[tuple[int, int], np.ndarray] = {}
        all_pairs = _sorted_pairs(family)
        for band in (_MISSING_BAND, *range(len(_AGE_BAND_EDGES) + 1)):
            band_pairs = _sorted_pairs(family[bands == band])
            for c in _CLASSES:
                cell_pairs = _sorted_pairs(family[(bands == band) & (pclass == c)])
                families[(c, band)] = _first_big_enough([cell_pairs, band_pairs, all_pairs], _MIN_CELL)

        imputed = age.copy()
        for (c, s), median in age_medians.items():
            imputed[~known_age & (pclass == c) & (sex == s)] = median
        design = _design_matrix(pclass, sex == "female", imputed, ~known_age, family[:, 0], family[:, 1])
        # lbfgs is deterministic; random_state is fixed anyway so that a later
        # change of solver cannot introduce run-to-run differences unnoticed.
        model = LogisticRegression(C=1.0, solver="lbfgs", max_iter=5000, tol=1e-8, random_state=0)
        model.fit(design, survived)

        return cls(
            _fitted={
                "class_probs": class_probs,
                "female_prob": female_prob,
                "missing_age_rate": missing_age_rate,
                "ages": ages,
                "age_range": (float(all_ages[0]), float(all_ages[-1])),
                "families": families,
                "age_medians": age_medians,
                "model": model,
                "n_fitted": n,
            }
        )

    # -- inspection ----------------------------------------------------------

    @property
    def survival_model(self) -> LogisticRegression:
        """The fitted scikit-learn model behind `survival_probability` (columns: `survival_features`)."""
        return self._model

    @property
    def survival_features(self) -> tuple[str, ...]:
        """Names of the survival model's input columns, in order."""
        return _SURVIVAL_FEATURES

    def survival_probability(self, passengers: pd.DataFrame) -> np.ndarray:
        """Model probability of survival for each row of ``passengers``.

        Missing ages are imputed with the median age of the passenger's
        (pclass, sex) cell in the fitted data, as in the fit.

        Args:
            passengers: Frame with columns ``pclass, sex, age, sibsp, parch``.

        Returns:
            float64 array of probabilities, one per row.
        """
        missing = [c for c in ("pclass", "sex", "age", "sibsp", "parch") if c not in passengers.columns]
        if missing:
            raise SchemaError(f"survival_probability: passengers frame lacks column(s) {', '.join(missing)}")
        pclass = passengers["pclass"].to_numpy(dtype=np.int64)
        sex = passengers["sex"].to_numpy(dtype=object)
        age = passengers["age"].to_numpy(dtype=np.float64)
        return self._probability(
            pclass, sex == "female", age, passengers["sibsp"].to_numpy(), passengers["parch"].to_numpy(), 0.0
        )

    def _probability(
        self,
        pclass: np.ndarray,
        female: np.ndarray,
        age: np.ndarray,
        sibsp: np.ndarray,
        parch: np.ndarray,
        logit_shift: float,
    ) -> np.ndarray:
        unknown = np.isnan(age)
        imputed = age.copy()
        for (c, s), median in self._age_medians.items():
            imputed[unknown & (pclass == c) & (female == (s == "female"))] = median
        design = _design_matrix(pclass, female, imputed, unknown, sibsp, parch)
        logit = self._model.decision_function(design) + logit_shift
        return 1.0 / (1.0 + np.exp(-logit))

    def __repr__(self) -> str:
        mix = ", ".join(f"{p:.3f}" for p in self._class_probs)
        return f"PassengerGenerator(fitted on {self._n_fitted} passengers, class mix ({mix}))"

    # -- sampling -------------------------------------------------------------

    def generate(
        self,
        run_date: date | str,
        n: int = 20,
        *,
        first_id: int,
        drift: Drift | None = None,
    ) -> pd.DataFrame:
        """Sample ``n`` new passengers boarding on ``run_date``.

        Args:
            run_date: The day the feature pipeline runs for (a date, a datetime
                whose UTC date is used, or ``"YYYY-MM-DD"``). It alone seeds the
                random numbers.
            n: Number of passengers, at least 1.
            first_id: ``passenger_id`` of the first new passenger (>= 1); the
                rest follow consecutively. The caller keeps ids unique, e.g. by
                continuing after the largest id already in the feature group.
            drift: Optional population change; applied only if
                ``run_date >= drift.start``.

        Returns:
            A frame with the columns and dtypes of `load_passengers`:
            ``passenger_id`` first_id..first_id+n-1, ``boarded_at`` at sorted
            whole-second times within ``run_date`` (UTC), index 0..n-1.
            Identical, byte for byte, for identical arguments in any process.

        Raises:
            TypeError: An argument of the wrong type.
            ValueError: Malformed ``run_date``, ``n < 1``, ``first_id < 1`` or
                ids beyond the int64 range.
        """
        day = _as_date(run_date, "run_date")
        n = _as_int(n, "n")
        if n < 1:
            raise ValueError(f"n (number of passengers) must be at least 1, got {n}")
        first_id = _as_int(first_id, "first_id")
        if first_id < 1:
            raise ValueError(f"first_id must be a positive passenger id, got {first_id}")
        if first_id + n - 1 > np.iinfo(np.int64).max:
            raise ValueError(f"first_id {first_id} + n {n} exceeds the int64 range of passenger_id")
        if drift is not None and not isinstance(drift, Drift):
            raise TypeError(f"drift must be a Drift or None, not {type(drift).__name__}")
        active = drift if drift is not None and day >= drift.start else None

        # Seed from the date's ordinal (stable across processes and platforms),
        # salted so this stream is the kit's Titanic stream. All streams are
        # drawn up front, in a fixed order, whatever the drift (see _STREAMS).
        rng = np.random.default_rng(np.random.SeedSequence([_SEED_SALT, day.toordinal()]))
        u = dict(zip(_STREAMS, rng.random((len(_STREAMS), n))))
        jitter = rng.standard_normal(n)

        # 1. pclass by inverse CDF: a drifted mix moves only the passengers near the class boundaries.
        class_probs = np.asarray(active.class_mix) if active and active.class_mix else self._class_probs
        cdf = np.cumsum(class_probs)
        cdf[-1] = 1.0  # guard against a sum of 0.9999999 leaving u = 0.99999999 classless
        pclass = np.asarray(_CLASSES, dtype=np.int64)[np.searchsorted(cdf, u["pclass"], side="right")]

        # 2. sex given pclass.
        female_prob = np.array([self._female_prob[int(c)] for c in pclass])
        female = u["sex"] < female_prob
        sex = np.where(female, "female", "male")

        # 3. age given (pclass, sex): missing at the real rate, else a jittered real age.
        age = np.full(n, np.nan)
        for c in _CLASSES:
            for s in _SEXES:
                in_cell = (pclass == c) & (sex == s)
                if not in_cell.any():
                    continue
                known = in_cell & (u["age_missing"] >= self._missing_age_rate[(c, s)])
                age[known] = _pick(self._ages[(c, s)], u["age_pick"][known])
        sd = np.minimum(_AGE_JITTER_YEARS, _AGE_JITTER_FRACTION * age)
        low, high = self._age_range
        age = np.round(np.clip(age + sd * jitter, low, high), 2)
        if active and active.age_shift:
            age = np.round(np.clip(age + active.age_shift, *_DRIFT_AGE_LIMITS), 2)

        # 4. (sibsp, parch) given (pclass, age band), drawn as a real pair.
        family = np.zeros((n, 2), dtype=np.int64)
        bands = _age_band(age)
        for (c, band), pairs in self._families.items():
            in_cell = (pclass == c) & (bands == band)
            if in_cell.any():
                family[in_cell] = _pick(pairs, u["family"][in_cell])

        # 5. survived ~ Bernoulli(p) from the survival model (plus concept drift, if any).
        shift = active.survival_shift if active else 0.0
        p = self._probability(pclass, female, age, family[:, 0], family[:, 1], shift)
        survived = (u["survived"] < p).astype(np.int64)

        # Boarding times: sorted whole seconds within the UTC day, so rows are in boarding order.
        seconds = np.sort((u["time"] * 86_400).astype(np.int64))
        midnight = pd.Timestamp(day.isoformat(), tz="UTC").as_unit("us")
        boarded_at = midnight + pd.to_timedelta(seconds, unit="s")

        frame = pd.DataFrame(
            {
                "passenger_id": np.arange(first_id, first_id + n, dtype=np.int64),
                "boarded_at": boarded_at,
                "pclass": pclass,
                "sex": pd.array(sex, dtype="str"),
                "age": age,
                "sibsp": family[:, 0],
                "parch": family[:, 1],
                "survived": survived,
            }
        )
        return frame.astype(_DTYPES)

def _sorted_pairs(pairs: np.ndarray) -> np.ndarray:
    """(sibsp, parch) rows sorted lexicographically: a canonical order independent of file order."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]

def _design_matrix(
    pclass: np.ndarray,
    female: np.ndarray,
    age: np.ndarray,
    age_missing: np.ndarray,
    sibsp: np.ndarray,
    parch: np.ndarray,
) -> np.ndarray:
    """Survival-model inputs in the order of `_SURVIVAL_FEATURES` (age already imputed)."""
    female = np.asarray(female, dtype=np.float64)
    class_2 = (np.asarray(pclass) == 2).astype(np.float64)
    class_3 = (np.asarray(pclass) == 3).astype(np.float64)
    # Decades keep the age coefficient on the scale of the 0/1 features, which
    # helps lbfgs converge without a scaler.
    decades = np.asarray(age, dtype=np.float64) / 10.0
    sibsp = np.asarray(sibsp, dtype=np.float64)
    parch = np.asarray(parch, dtype=np.float64)
    columns = {
        "female": female,
        "class_2": class_2,
        "class_3": class_3,
        "age_decades": decades,
        "age_missing": np.asarray(age_missing, dtype=np.float64),
        "child": (decades * 10.0 < _CHILD_AGE).astype(np.float64),
        "sibsp": sibsp,
        "parch": parch,
        "female_x_class_2": female * class_2,
        "female_x_class_3": female * class_3,
        "female_x_age_decades": female * decades,
        "class_3_x_family": class_3 * (sibsp + parch),
    }
    return np.column_stack([columns[name] for name in _SURVIVAL_FEATURES])

# ---------------------------------------------------------------------------
# Convenience
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _fitted_generator(resolved: str, mtime_ns: int, size: int) -> PassengerGenerator:
    # Keyed on the file's modification time and size too, so editing the file
    # (e.g. an exercise that corrupts it) refits instead of using a stale fit.
    return PassengerGenerator.fit(load_passengers(resolved))

def generate_passengers(
    run_date: date | str,
    n: int = 20,
    *,
    first_id: int,
    drift: Drift | None = None,
    path: str | Path | None = None,
) -> pd.DataFrame:
    """Generate ``n`` new passengers for ``run_date`` from a generator fitted on the real list.

    The fitted generator is cached per file in this process, so a backfill
    over many dates fits once.

    Args:
        run_date: See `PassengerGenerator.generate`.
        n: See `PassengerGenerator.generate`.
        first_id: See `PassengerGenerator.generate`.
        drift: See `PassengerGenerator.generate`.
        path: Passenger list to fit on; defaults to `TITANIC_CSV`.

    Returns:
        The frame of `PassengerGenerator.generate`.
    """
    file = Path(path) if path is not None else TITANIC_CSV
    if not file.is_file():
        raise FileNotFoundError(f"passenger list {file}: no such file (the kit keeps a copy in data/titanic.csv)")
    resolved = file.resolve()
    stat = resolved.stat()
    generator = _fitted_generator(str(resolved), stat.st_mtime_ns, stat.st_size)
    return generator.generate(run_date, n, first_id=first_id, drift=drift)


def first_passenger_id(run_date: date | str, n: int = 1) -> int:
    """The first passenger id for ``run_date``: the same every time that date is run.

    Ids come from the date (``1_000_000 + days since 2000-01-01 * 1000``) rather than
    from the store's current maximum, so re-running a day upserts the same passengers
    instead of adding new ones.

    Raises:
        ValueError: ``n`` is more than `IDS_PER_DAY`, or the date is before 2000.
    """
    day = _as_date(run_date, "run_date")
    if not 1 <= n <= IDS_PER_DAY:
        raise ValueError(f"passengers per day must be between 1 and {IDS_PER_DAY}, got {n}")
    if day < _FIRST_DAY:
        raise ValueError(f"run_date {day.isoformat()} is before {_FIRST_DAY.isoformat()}")
    return 1_000_000 + (day - _FIRST_DAY).days * IDS_PER_DAY


def drift_from_parameters(start: str, age_shift: float = 0.0, class_mix: str = "") -> Drift | None:
    """Build a `Drift` from notebook parameters; None when ``start`` is empty.

    Args:
        start: First run date with drift (``"YYYY-MM-DD"``), or ``""`` for no drift.
        age_shift: Years added to every generated age.
        class_mix: Shares of classes 1, 2, 3 as ``"0.6,0.3,0.1"``, or ``""`` to keep the real mix.
    """
    if not start:
        return None
    mix = None
    if class_mix:
        try:
            mix = tuple(float(part) for part in class_mix.split(","))
        except ValueError:
            raise ValueError(f"class_mix {class_mix!r} is not three comma-separated numbers") from None
    return Drift(start=start, age_shift=age_shift, class_mix=mix)


def passenger_expectations():
    """The expectation suite every insert into the passengers feature group must pass.

    Each expectation is a fact about valid passengers, not about this sample: a
    class is 1, 2 or 3; an age, when known, is between 0 and 120; nobody has a
    negative number of relatives; sex and survival are always recorded.

    Returns:
        A ``great_expectations.ExpectationSuite`` (Great Expectations is imported here).
    """
    import great_expectations as gx

    expect = gx.expectations
    return gx.ExpectationSuite(
        name="passengers",
        expectations=[
            expect.ExpectColumnValuesToBeInSet(column="pclass", value_set=[1, 2, 3]),
            expect.ExpectColumnValuesToBeInSet(column="sex", value_set=["female", "male"]),
            expect.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=120),
            expect.ExpectColumnValuesToBeBetween(column="sibsp", min_value=0, max_value=20),
            expect.ExpectColumnValuesToBeBetween(column="parch", min_value=0, max_value=20),
            expect.ExpectColumnValuesToBeInSet(column="survived", value_set=[0, 1]),
            expect.ExpectColumnValuesToNotBeNull(column="survived"),
        ],
    )


BASE_FARES: dict[int, float] = {1: 84.0, 2: 21.0, 3: 13.0}
"""Mean fare in pounds per ticket class on the real voyage, the starting point of `class_fares`."""


def class_fares(start: date | str, days: int, *, hour: int = 6) -> pd.DataFrame:
    """Daily ticket prices per class, changing every morning: a feature that varies over time.

    Used to practise point-in-time joins: a passenger must get the fare valid
    when they boarded, not the latest one. Deterministic for given arguments.

    Args:
        start: The first day (``YYYY-MM-DD``).
        days: How many days of prices.
        hour: Hour (UTC) at which each day's prices take effect.

    Returns:
        Columns ``pclass`` (int64), ``valid_from`` (UTC datetime) and ``fare`` (float64),
        one row per class and day.
    """
    first = _as_date(start, "start")
    if _as_int(days, "days") < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    rng = np.random.default_rng(first.toordinal())
    moments = pd.date_range(pd.Timestamp(first, tz="UTC") + pd.Timedelta(hours=hour), periods=days, freq="D")
    frames = []
    for pclass, base in BASE_FARES.items():
        # A random walk of daily price changes of a few percent.
        factors = np.exp(np.cumsum(rng.normal(0.0, 0.05, size=days)))
        frames.append(pd.DataFrame({"pclass": pclass, "valid_from": moments, "fare": np.round(base * factors, 2)}))
    fares = pd.concat(frames, ignore_index=True)
    fares["pclass"] = fares["pclass"].astype("int64")
    fares["valid_from"] = fares["valid_from"].astype("datetime64[us, UTC]")
    return fares
