"""The real passenger list: where it is, its columns, and loading and cleaning it.

`load_passengers` reads ``data/titanic.csv`` and checks every value, so that a
corrupted file fails with a message naming the line instead of training a model
on nonsense. `clean_passengers` is the same check for a frame, used when the
generator is fitted.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from fti.exceptions import SchemaError
from fti.paths import DATA_DIR

__all__ = [
    "BOARDED_AT",
    "CLASSES",
    "COLUMNS",
    "DTYPES",
    "FEATURES",
    "LABEL",
    "RAW_COLUMNS",
    "SEXES",
    "TITANIC_CSV",
    "clean_passengers",
    "load_passengers",
]

FEATURES: list[str] = ["pclass", "sex", "age", "sibsp", "parch"]
"""What the model may use to predict survival."""

LABEL = "survived"
"""What the model predicts."""

TITANIC_CSV: Path = DATA_DIR / "titanic.csv"
"""Default location of the real passenger list (a plain copy of the kit's data file)."""

BOARDED_AT: pd.Timestamp = pd.Timestamp("1912-04-10 12:00", tz="UTC").as_unit("us")
"""Event time of every real passenger: the Southampton departure, 10 April 1912, noon."""

COLUMNS: tuple[str, ...] = ("passenger_id", "boarded_at", "pclass", "sex", "age", "sibsp", "parch", "survived")
"""Columns of `load_passengers` and of generated passengers, in order."""

RAW_COLUMNS: tuple[str, ...] = ("pclass", "sex", "age", "sibsp", "parch", "survived")
"""The six columns read from the data file; anything else in the file is ignored."""

DTYPES: dict[str, str] = {
    "passenger_id": "int64",
    "boarded_at": "datetime64[us, UTC]",
    "pclass": "int64",
    "sex": "str",
    "age": "float64",
    "sibsp": "int64",
    "parch": "int64",
    "survived": "int64",
}
"""The dtype of every column of `COLUMNS`."""

CLASSES: tuple[int, ...] = (1, 2, 3)
"""The passenger classes."""

SEXES: tuple[str, ...] = ("female", "male")
"""The values of ``sex``, in the order the generator visits them."""

AGE_LIMIT = 120.0
"""Oldest possible age in years; an age of 0 is a newborn."""


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
    clean = clean_passengers(raw, source=f"passenger list {file}", line_numbers=True)
    return _with_ids_and_times(clean)


def _with_ids_and_times(clean: pd.DataFrame) -> pd.DataFrame:
    """Add passenger_id 1..N and the common boarding time to cleaned real rows."""
    n = len(clean)
    frame = pd.DataFrame(
        {
            "passenger_id": np.arange(1, n + 1, dtype="int64"),
            "boarded_at": pd.Series([BOARDED_AT] * n, dtype=DTYPES["boarded_at"]),
        }
    )
    for column in RAW_COLUMNS:
        frame[column] = clean[column].to_numpy()
    return frame.astype(DTYPES)


def clean_passengers(raw: pd.DataFrame, *, source: str, line_numbers: bool) -> pd.DataFrame:
    """Validate and convert the six data columns of ``raw``.

    Args:
        raw: Frame with at least the `RAW_COLUMNS`, of any dtypes (text from a
            CSV file or already-typed columns).
        source: What to call ``raw`` in error messages.
        line_numbers: Report offending rows as file line numbers (header is
            line 1) instead of index labels.

    Returns:
        A new frame with exactly `RAW_COLUMNS`, dtypes as in `DTYPES`, index 0..N-1.

    Raises:
        SchemaError: No rows, a missing column, or an impossible value (unknown
            class or sex, negative or non-integer count, age outside 0-120,
            survived not 0/1); the message names ``source``, the column and the rows.
    """
    missing = [c for c in RAW_COLUMNS if c not in raw.columns]
    if missing:
        raise SchemaError(
            f"{source}: missing column(s) {', '.join(map(repr, missing))}; expected {', '.join(RAW_COLUMNS)}"
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
    bad = ~sex.isin(SEXES).to_numpy()
    if bad.any():
        raise SchemaError(
            f"{source}: column 'sex' must be 'male' or 'female'; got {examples('sex', bad)} at {where(bad)}"
        )
    out["sex"] = sex.to_numpy(dtype=object)

    # Numeric columns: (name, may be missing, must be integer, allowed range, what the range means).
    rules = (
        ("pclass", False, True, (1, 3), "a passenger class 1, 2 or 3"),
        ("age", True, False, (0.0, AGE_LIMIT), f"an age in years between 0 and {AGE_LIMIT:g}"),
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

    return pd.DataFrame({c: out[c] for c in RAW_COLUMNS}).astype({c: DTYPES[c] for c in RAW_COLUMNS})
