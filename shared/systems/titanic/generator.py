"""The passenger generator: new, synthetic passengers that look like the real ones.

The real list has only 1309 passengers and no new ones ever board, so the daily
feature pipeline needs *new* passengers. `PassengerGenerator` is fitted once on
the real list and samples new passengers from its joint distribution, with
survival drawn from the logistic regression of `systems.titanic.survival`;
`generate_passengers` is the one-call version used by the feature pipeline.

Every generated frame is a pure function of the fitted data, ``run_date``,
``n``, ``first_id`` and ``drift``: the random generator is seeded from the
date and the Titanic salt (`fti.teach.synthetic.rng_for_date`, never Python's
``hash()``, which is salted per process), so a re-run of the pipeline, or a
notebook executed on another day, writes exactly the same rows.
"""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from fti.exceptions import ParameterError, ParameterTypeError, SchemaError
from fti.teach import synthetic

from .data import AGE_LIMIT, CLASSES, DTYPES, SEXES, TITANIC_CSV, clean_passengers, load_passengers
from .drift import Drift
from .survival import SURVIVAL_FEATURES, design_matrix, fit_survival_model

__all__ = ["PassengerGenerator", "generate_passengers"]

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
_DRIFT_AGE_LIMITS = (0.0, AGE_LIMIT)

# Mixed into every seed so these streams differ from other systems' seeded
# generators for the same date. "TITA" in ASCII, 0x54495441: changing it
# changes every generated passenger and every committed notebook output.
_SEED_SALT = synthetic.seed_salt("TITA")

# Order of the uniform random streams drawn for every call of `generate`. Each
# aspect of a passenger uses its own stream, and all streams are drawn whatever
# the drift, so a drift changes only what it is meant to change: the same
# run_date with and without drift gives the same passengers except for the
# drifted aspects and their consequences.
_STREAMS: tuple[str, ...] = ("pclass", "sex", "age_missing", "age_pick", "family", "survived", "time")


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
            ParameterTypeError: ``passengers`` is not a DataFrame (a ``TypeError`` too).
            SchemaError: Missing columns, impossible values, no known ages, or
                an outcome with only survivors or only victims.
        """
        if not isinstance(passengers, pd.DataFrame):
            raise ParameterTypeError(
                f"PassengerGenerator.fit needs a pandas DataFrame, not {type(passengers).__name__}"
            )
        data = clean_passengers(passengers, source="passengers frame", line_numbers=False)
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
        class_probs = np.array([(pclass == c).sum() / n for c in CLASSES])
        overall_female = float((sex == "female").mean())
        female_prob: dict[int, float] = {}
        for c in CLASSES:
            in_class = pclass == c
            # A class absent from the data (possible when fitting a subset)
            # can still be drawn under a drift class_mix; use the overall share.
            female_prob[c] = float((sex[in_class] == "female").mean()) if in_class.any() else overall_female

        all_ages = np.sort(age[known_age])
        missing_age_rate: dict[tuple[int, str], float] = {}
        ages: dict[tuple[int, str], np.ndarray] = {}
        age_medians: dict[tuple[int, str], float] = {}
        overall_missing = float(np.isnan(age).mean())
        for c in CLASSES:
            class_ages = np.sort(age[(pclass == c) & known_age])
            for s in SEXES:
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
            for c in CLASSES:
                cell_pairs = _sorted_pairs(family[(bands == band) & (pclass == c)])
                families[(c, band)] = _first_big_enough([cell_pairs, band_pairs, all_pairs], _MIN_CELL)

        imputed = age.copy()
        for (c, s), median in age_medians.items():
            imputed[~known_age & (pclass == c) & (sex == s)] = median
        design = design_matrix(pclass, sex == "female", imputed, ~known_age, family[:, 0], family[:, 1])
        model = fit_survival_model(design, survived)

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
        return SURVIVAL_FEATURES

    def survival_probability(self, passengers: pd.DataFrame) -> np.ndarray:
        """Model probability of survival for each row of ``passengers``.

        Missing ages are imputed with the median age of the passenger's
        (pclass, sex) cell in the fitted data, as in the fit.

        Args:
            passengers: Frame with columns ``pclass, sex, age, sibsp, parch``.

        Returns:
            float64 array of probabilities, one per row.

        Raises:
            SchemaError: A column is missing.
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
        """Survival probabilities, with ``logit_shift`` added to the log-odds (concept drift)."""
        unknown = np.isnan(age)
        imputed = age.copy()
        for (c, s), median in self._age_medians.items():
            imputed[unknown & (pclass == c) & (female == (s == "female"))] = median
        design = design_matrix(pclass, female, imputed, unknown, sibsp, parch)
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
            ParameterTypeError: An argument of the wrong type (a ``TypeError`` too).
            ParameterError: Malformed ``run_date``, ``n < 1``, ``first_id < 1`` or
                ids beyond the int64 range.
        """
        day = synthetic.as_date(run_date, "run_date")
        n = synthetic.as_int(n, "n")
        if n < 1:
            raise ParameterError(f"n (number of passengers) must be at least 1, got {n}")
        first_id = synthetic.as_int(first_id, "first_id")
        if first_id < 1:
            raise ParameterError(f"first_id must be a positive passenger id, got {first_id}")
        if first_id + n - 1 > np.iinfo(np.int64).max:
            raise ParameterError(f"first_id {first_id} + n {n} exceeds the int64 range of passenger_id")
        if drift is not None and not isinstance(drift, Drift):
            raise ParameterTypeError(f"drift must be a Drift or None, not {type(drift).__name__}")
        active = drift if drift is not None and drift.applies_to(day) else None

        # Seeded from the date and the Titanic salt (stable across processes and
        # platforms). All streams are drawn up front, in a fixed order, whatever
        # the drift (see _STREAMS).
        rng = synthetic.rng_for_date(day, _SEED_SALT)
        u = dict(zip(_STREAMS, rng.random((len(_STREAMS), n)), strict=True))
        jitter = rng.standard_normal(n)

        # 1. pclass by inverse CDF: a drifted mix moves only the passengers near the class boundaries.
        class_probs = np.asarray(active.class_mix) if active and active.class_mix else self._class_probs
        cdf = np.cumsum(class_probs)
        cdf[-1] = 1.0  # guard against a sum of 0.9999999 leaving u = 0.99999999 classless
        pclass = np.asarray(CLASSES, dtype=np.int64)[np.searchsorted(cdf, u["pclass"], side="right")]

        # 2. sex given pclass.
        female_prob = np.array([self._female_prob[int(c)] for c in pclass])
        female = u["sex"] < female_prob
        sex = np.where(female, "female", "male")

        # 3. age given (pclass, sex): missing at the real rate, else a jittered real age.
        age = np.full(n, np.nan)
        for c in CLASSES:
            for s in SEXES:
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
        return frame.astype(DTYPES)


def _sorted_pairs(pairs: np.ndarray) -> np.ndarray:
    """(sibsp, parch) rows sorted lexicographically: a canonical order independent of file order."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


# ---------------------------------------------------------------------------
# One call for the feature pipeline: fit once per file, then generate
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
