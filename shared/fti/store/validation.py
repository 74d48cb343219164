"""Data validation: check every insert into a feature group against an expectation suite.

A feature group can carry an *expectation suite*: a named list of rules about the data
that must hold before rows are written, such as "``age`` is between 0 and 120",
"``name`` is never null" or "``embarked`` is one of S, C, Q". The rules are Great
Expectations (GX) expectations. Each time a DataFrame is inserted, the store calls
`validate` to check the frame against the suite, then decides from the outcome
whether to write the rows, write them with a warning, or refuse them.

This module is the only place in `fti` that talks to Great Expectations. It does three
things:

* `suite_to_dict` turns a suite into a plain, deterministic dict, so the store can keep
  it in its database and tell whether a suite has changed by comparing two dicts.
* `suite_from_dict` turns such a dict back into a ``gx.ExpectationSuite``.
* `validate` runs a suite against a DataFrame and returns a `ValidationOutcome`: did it
  pass, which expectations failed with a few offending values each, and a report that
  is identical every time the same frame meets the same suite.

Example:
    A suite can be written as GX objects or as a plain dict; both work everywhere here::

        import great_expectations as gx

        suite = gx.ExpectationSuite(
            name="passengers",
            expectations=[
                gx.expectations.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=120),
                gx.expectations.ExpectColumnValuesToNotBeNull(column="name"),
            ],
        )
        outcome = validate(df, suite, name="passengers_v1")
        outcome.success    # False if, say, one passenger is 150 years old
        outcome.failures   # [{'expectation': 'expect_column_values_to_be_between',
                           #   'column': 'age', 'examples': [150], ...}]

    Pass the expectations to ``ExpectationSuite(...)`` as above: in GX 1.x,
    ``suite.add_expectation(...)`` raises unless a GX data context is active
    (``gx.get_context()``).

Great Expectations takes a few seconds to import, and most users of `fti` never
validate anything, so it is imported inside these functions, never when this module is
imported.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import decimal
import json
import logging
import math
import threading
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fti.exceptions import InvalidSuiteError, NotASuiteError, ParameterError, ParameterTypeError

if TYPE_CHECKING:  # only for type checkers: importing GX for real costs seconds
    import pandas
    from great_expectations.core import ExpectationSuite
    from great_expectations.data_context import EphemeralDataContext

__all__ = ["ValidationOutcome", "describe_suite", "suite_from_dict", "suite_to_dict", "validate"]

#: How many offending values a failure lists as ``examples``.
MAX_EXAMPLES = 5

#: How many offending values GX collects per expectation (``partial_unexpected_list``).
#: Fixed here so the report does not change if GX changes its default.
PARTIAL_UNEXPECTED_COUNT = 20

# Keys GX generates that carry no meaning of their own and would make two serialisations
# of the same suite differ: random UUIDs (suite and expectation ``id``) and rendered
# HTML-ish content derived from the kwargs.
_SUITE_DROP_KEYS = frozenset({"id"})
_EXPECTATION_DROP_KEYS = frozenset({"id", "rendered_content"})
# GX writes its own version into suite meta; dropped so that upgrading GX does not make a
# stored suite look different from the same suite built again.
_META_DROP_KEYS = frozenset({"great_expectations_version"})

# Prefix of the temporary ids given to expectations during a run, so each result can be
# matched back to its expectation (GX reorders results; see `_run`).
_RUN_ID_PREFIX = "fti-expectation-"

# One ephemeral GX context per process, created on first use. A lock serialises every
# use of GX here: runs share that context and swap GX's global "current context", and
# quieting warnings and logging changes process-wide state. Re-entrant because
# `validate` calls `suite_from_dict` while holding it.
_CONTEXT: EphemeralDataContext | None = None
_LOCK = threading.RLock()


@dataclass(frozen=True)
class ValidationOutcome:
    """What happened when a DataFrame was checked against an expectation suite.

    Attributes:
        success: True when every expectation passed.
        evaluated: Number of expectations evaluated.
        failures: One dict per failed expectation, in suite order, with keys
            ``expectation`` (its type, e.g. ``"expect_column_values_to_be_between"``),
            ``column`` (or None for table-level expectations), ``kwargs`` (its
            arguments, JSON-able), ``examples`` (up to five distinct offending values as
            plain Python ``int``/``float``/``str``/``bool``/None) and ``error`` (the
            message when GX could not evaluate the expectation at all, such as a missing
            column; otherwise None).
        report: A JSON-able summary of the whole run (suite name, success, statistics,
            and per expectation its type, kwargs, success, error and result). It has no
            ids, timestamps or run ids, so the same frame and suite always give an
            identical report.
    """

    success: bool
    evaluated: int
    failures: list[dict]
    report: dict


# --------------------------------------------------------------------------- public API


def suite_to_dict(suite: ExpectationSuite | Mapping[str, Any]) -> dict:
    """Serialise an expectation suite to a plain, deterministic, JSON-able dict.

    The same suite always gives the same dict: GX's random ids (of the suite and of
    each expectation), rendered content and GX version stamp are left out, and every
    mapping has its keys sorted. A dict that is already a serialised suite is rebuilt
    through GX and serialised again, so a hand-written dict and the equivalent suite
    object give the same result (GX fills in defaults such as ``severity``).

    Args:
        suite: A ``gx.ExpectationSuite`` or a dict such as this function returns.

    Returns:
        A dict with ``name``, ``expectations`` (each with ``type``, ``kwargs``, ``meta``,
        ``severity`` and any ``notes``/``description``), ``meta`` and ``notes``, that
        `suite_from_dict` rebuilds.

    Raises:
        NotASuiteError: ``suite`` is neither an ExpectationSuite nor a mapping (also a ``TypeError``).
        InvalidSuiteError: ``suite`` is a dict that does not describe a valid suite.
    """
    if isinstance(suite, Mapping):
        # Going through GX normalises a hand-written dict exactly like an object.
        suite = suite_from_dict(dict(suite))
    with _quiet():
        from great_expectations.core import ExpectationSuite

        if not isinstance(suite, ExpectationSuite):
            raise NotASuiteError(
                f"expected a great_expectations ExpectationSuite or a dict, got {type(suite).__name__} {suite!r:.80}"
            )
        raw = suite.to_json_dict()
    return _canonical_suite_dict(raw)


def suite_from_dict(data: Mapping[str, Any]) -> ExpectationSuite:
    """Rebuild a ``gx.ExpectationSuite`` from a dict made by `suite_to_dict`.

    Unlike GX's own ``ExpectationSuite(**data)``, which logs and silently drops an
    expectation it cannot build, this raises, naming the offending expectation: a
    suite that quietly lost a rule would let bad data through.

    Args:
        data: A serialised suite: ``name`` and a list of ``expectations``, each with
            ``type`` and ``kwargs``. Ids, if present (from a suite GX had saved), are
            ignored.

    Returns:
        A new suite, not attached to any GX data context.

    Raises:
        NotASuiteError: ``data`` is not a mapping (also a ``TypeError``).
        InvalidSuiteError: The dict has no name, or an expectation is unknown or has invalid
            arguments.
    """
    if not isinstance(data, Mapping):
        raise NotASuiteError(f"expected a dict describing an expectation suite, got {type(data).__name__} {data!r:.80}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidSuiteError(f"expectation suite dict has no valid 'name' (got {name!r})")
    raw_expectations = data.get("expectations") or []
    if not isinstance(raw_expectations, list):
        raise InvalidSuiteError(f"expectation suite '{name}': 'expectations' must be a list")

    with _quiet():
        import great_expectations as gx
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )

        expectations = []
        for index, raw in enumerate(raw_expectations):
            if not isinstance(raw, Mapping) or "type" not in raw:
                raise InvalidSuiteError(
                    f"expectation suite '{name}': expectation #{index} must be a dict with 'type' and 'kwargs'"
                )
            config = {k: v for k, v in raw.items() if k not in _EXPECTATION_DROP_KEYS}
            try:
                # Building each Expectation ourselves (instead of handing dicts to the
                # ExpectationSuite constructor) is what makes a bad one raise.
                expectations.append(ExpectationConfiguration(**config).to_domain_obj())
            except Exception as err:  # GX raises its own errors, pydantic ones and TypeErrors
                raise InvalidSuiteError(
                    f"expectation suite '{name}': expectation #{index} ({raw.get('type')!r}) "
                    f"is not valid: {err}"
                ) from err

        meta = {k: v for k, v in (data.get("meta") or {}).items() if k not in _META_DROP_KEYS}
        return gx.ExpectationSuite(
            name=name,
            expectations=expectations,
            suite_parameters=dict(data.get("suite_parameters") or {}),
            meta=meta,
            notes=data.get("notes"),
        )


def validate(
    df: pandas.DataFrame, suite: ExpectationSuite | Mapping[str, Any], *, name: str
) -> ValidationOutcome:
    """Check a DataFrame against an expectation suite.

    The run uses a private, in-memory GX context and prints nothing: no progress bars,
    no warnings, no log lines (notebooks compare their output exactly). The suite is
    neither modified nor saved anywhere.

    Args:
        df: The rows about to be inserted.
        suite: A ``gx.ExpectationSuite`` or a dict from `suite_to_dict`.
        name: What the rows are, e.g. ``"passengers_v1"``; names the temporary GX data
            source and asset.

    Returns:
        The outcome: success, number evaluated, the failures with examples, and a
        deterministic report.

    Raises:
        ParameterTypeError: ``df`` is not a pandas DataFrame (also a ``TypeError``).
        NotASuiteError: ``suite`` is not a suite or dict (also a ``TypeError``).
        ParameterError: ``name`` is empty (also a ``ValueError``).
        InvalidSuiteError: ``suite`` is a dict that does not describe a valid suite.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise ParameterTypeError(f"validate() needs a pandas DataFrame, got {type(df).__name__}")
    if not isinstance(name, str) or not name:
        raise ParameterError(f"validate() needs a non-empty name for the data, got {name!r}")

    # Normalise first: object or dict, hand-written or not, the run always sees the same
    # suite, which is what makes reports of equal suites equal.
    data = suite_to_dict(suite)
    with _quiet():
        results = _run(df, data, name)
    return _outcome(data, results)


def describe_suite(suite: ExpectationSuite | Mapping[str, Any]) -> pandas.DataFrame:
    """One row per expectation: its type, its column and its other arguments, for reading in a notebook.

    (A suite's own repr carries random ids, which would change a notebook's output on every run.)
    """
    import pandas as pd

    data = suite_to_dict(suite)
    rows = []
    for expectation in data.get("expectations", []):
        kwargs = dict(expectation.get("kwargs", {}))
        column = kwargs.pop("column", None)
        arguments = ", ".join(f"{key}={value!r}" for key, value in sorted(kwargs.items()))
        rows.append({"expectation": expectation["type"], "column": column, "arguments": arguments})
    return pd.DataFrame(rows, columns=["expectation", "column", "arguments"])


# ------------------------------------------------------------------- running GX quietly


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hold `_LOCK` and silence GX's warnings and log records for the duration of the block.

    Warnings are ignored inside ``warnings.catch_warnings()``, which restores the user's
    filters on exit. GX's log records all end at the ``great_expectations`` logger, which
    gets a NullHandler and stops propagating for the block: nothing reaches the user's
    handlers, nor Python's last-resort handler that writes warnings to stderr.

    The first time, this is also where ``great_expectations`` gets imported. Libraries
    may install warning filters when imported (numpy and scipy do); ``catch_warnings``
    would throw those away, so they are installed again afterwards, as a plain import
    would have left them.
    """
    with _LOCK:
        gx_root = logging.getLogger("great_expectations")
        saved = (gx_root.level, gx_root.propagate)
        null_handler = logging.NullHandler()
        added_filters: list[tuple] = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                baseline = list(warnings.filters)
                gx_root.addHandler(null_handler)
                gx_root.propagate = False
                gx_root.setLevel(logging.CRITICAL + 1)
                try:
                    yield
                finally:
                    gx_root.removeHandler(null_handler)
                    gx_root.setLevel(saved[0])
                    gx_root.propagate = saved[1]
                    added_filters = [f for f in warnings.filters if f not in baseline]
        finally:
            _reinstall_filters(added_filters)


def _reinstall_filters(filters: list[tuple]) -> None:
    """Install again warning filters that were added inside `_quiet` (oldest last, as before)."""
    for action, message, category, module, lineno in reversed(filters):
        warnings.filterwarnings(
            action,
            message=message.pattern if message is not None else "",
            category=category,
            module=module.pattern if module is not None else "",
            lineno=lineno,
        )


def _context() -> EphemeralDataContext:
    """Return this process's ephemeral GX context, creating it on first use.

    Reusing one context is safe because a run leaves nothing in it (its data source is
    deleted afterwards) and runs are serialised by `_LOCK`. Progress bars are switched
    off in the context's config: GX otherwise draws "Calculating Metrics" tqdm bars on
    stderr for every run. Analytics are off too, and nothing is written to disk.
    """
    global _CONTEXT
    if _CONTEXT is None:
        from great_expectations.data_context import EphemeralDataContext
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        )
        # Constructed directly rather than with gx.get_context(), which would also make it
        # GX's global "current" context behind the user's back.
        _CONTEXT = EphemeralDataContext(project_config=config)
    return _CONTEXT


@contextlib.contextmanager
def _current_context(context: EphemeralDataContext) -> Iterator[None]:
    """Make ``context`` GX's current context for the block, then restore the previous one.

    GX 1.x consults a process-global "current context" during validation (for instance
    to decide whether to render results for GX Cloud) and fails if there is none. A user
    who has their own context keeps it as current after we are done.
    """
    from great_expectations.data_context.data_context.context_factory import project_manager
    from great_expectations.exceptions import DataContextRequiredError

    get_current = getattr(project_manager, "get_current_project", None)
    if get_current is None:
        # Older GX 1.x releases have no public getter; read the attribute it would return.
        previous = getattr(project_manager, "_ProjectManager__project", None)
    else:
        try:
            previous = get_current()
        except DataContextRequiredError:  # the user has no context of their own
            previous = None
    project_manager.set_project(context)
    try:
        yield
    finally:
        project_manager.set_project(previous)


def _run(df: pandas.DataFrame, data: dict, name: str) -> list[tuple[dict, Any]]:
    """Validate ``df`` against the serialised suite; return (expectation, GX result) pairs.

    The pairs are in suite order. GX evaluates expectations grouped by column and puts the
    ones that raised first, so each expectation gets a temporary id (its position) that
    comes back in its result and lets us restore the suite's order.
    """
    suite = suite_from_dict(data)
    for position, expectation in enumerate(suite.expectations):
        expectation.id = f"{_RUN_ID_PREFIX}{position}"

    context = _context()
    source_name = f"fti_{name}"
    with _current_context(context):
        # A previous run interrupted between add and delete could have left it behind.
        if source_name in context.data_sources.all():
            context.data_sources.delete(source_name)
        source = context.data_sources.add_pandas(source_name)
        try:
            batch_definition = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(
                "whole_frame"
            )
            batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
            result = batch.validate(
                suite,
                result_format={
                    "result_format": "SUMMARY",
                    "partial_unexpected_count": PARTIAL_UNEXPECTED_COUNT,
                },
            )
        finally:
            # Deleting the data source also drops GX's cached reference to the frame, which
            # would otherwise keep the last inserted DataFrame alive.
            context.data_sources.delete(source_name)

    by_position: dict[int, Any] = {}
    for expectation_result in result.results:
        run_id = expectation_result.expectation_config.id or ""
        by_position[int(run_id.removeprefix(_RUN_ID_PREFIX))] = expectation_result
    return [(expectation, by_position[i]) for i, expectation in enumerate(data["expectations"])]


# ------------------------------------------------------------- turning results into dicts


def _outcome(data: dict, pairs: list[tuple[dict, Any]]) -> ValidationOutcome:
    """Build the `ValidationOutcome` from the suite dict and its (expectation, result) pairs."""
    entries = []
    failures = []
    for expectation, result in pairs:
        gx_result = result.result or {}
        error = _error_message(result.exception_info)
        partial = [_jsonable(v) for v in gx_result.get("partial_unexpected_list") or []]
        entry = {
            "type": expectation["type"],
            "kwargs": expectation["kwargs"],
            "success": bool(result.success),
            "error": error,
            "result": {
                "unexpected_count": _jsonable(gx_result.get("unexpected_count")),
                "unexpected_percent": _jsonable(gx_result.get("unexpected_percent")),
                "partial_unexpected_list": partial,
                "observed_value": _jsonable(gx_result.get("observed_value")),
            },
        }
        entries.append(entry)
        if not entry["success"]:
            failures.append(
                {
                    "expectation": expectation["type"],
                    "column": expectation["kwargs"].get("column"),
                    "kwargs": copy.deepcopy(expectation["kwargs"]),
                    "examples": _distinct(partial)[:MAX_EXAMPLES],
                    "error": error,
                }
            )

    evaluated = len(entries)
    succeeded = sum(entry["success"] for entry in entries)
    success = succeeded == evaluated
    report = {
        "suite_name": data["name"],
        "success": success,
        "statistics": {
            "evaluated_expectations": evaluated,
            "successful_expectations": succeeded,
            "unsuccessful_expectations": evaluated - succeeded,
            "success_percent": 100.0 * succeeded / evaluated if evaluated else None,
        },
        "results": entries,
    }
    return ValidationOutcome(success=success, evaluated=evaluated, failures=failures, report=report)


def _error_message(exception_info: Any) -> str | None:
    """Return the message(s) of exceptions GX caught while evaluating one expectation.

    GX stores either one ``{"raised_exception": ..., "exception_message": ...}`` dict or a
    dict of them keyed by metric ids (which contain hashes, so only messages are kept).
    """
    if not isinstance(exception_info, Mapping):
        return None
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    messages = sorted(
        {
            str(info.get("exception_message"))
            for info in infos
            if isinstance(info, Mapping) and info.get("raised_exception")
        }
    )
    return "; ".join(messages) or None


def _distinct(values: list) -> list:
    """JSON-able values in first-seen order without repeats (300, 300, 300 says little)."""
    seen: set[str] = set()
    out = []
    for value in values:
        # JSON text as the key: handles unhashable values (pairs come back as lists) and
        # keeps 1, 1.0 and True apart.
        key = json.dumps(value, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def _jsonable(value: Any) -> Any:
    """Convert a value from GX or pandas into plain JSON-able Python.

    numpy scalars become ``int``/``float``/``bool``; missing values (None, NaN, ``pd.NA``,
    ``NaT``) and infinities become None, because JSON has no NaN; timestamps and dates
    become ISO strings; mappings get sorted string keys; anything else unknown becomes
    its ``str``.
    """
    if value is None or type(value) in (bool, str):
        return value
    if isinstance(value, str):  # a str subclass, e.g. a str-valued Enum member
        return str.__str__(value)
    if isinstance(value, bool):  # a bool subclass: numpy's bool is not one, handled below
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, decimal.Decimal):
        return _jsonable(float(value))

    import numpy as np
    import pandas as pd

    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        if isinstance(value, np.datetime64):
            return None if np.isnat(value) else pd.Timestamp(value).isoformat()
        if isinstance(value, np.timedelta64):
            return None if np.isnat(value) else str(pd.Timedelta(value))
        return _jsonable(value.item())
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return str(value)
    return str(value)


def _canonical_suite_dict(raw: Mapping[str, Any]) -> dict:
    """Drop GX's ids, rendered content and version stamp; sort keys; make it JSON-able."""
    suite = {k: v for k, v in raw.items() if k not in _SUITE_DROP_KEYS}
    suite["meta"] = {k: v for k, v in (suite.get("meta") or {}).items() if k not in _META_DROP_KEYS}
    suite["expectations"] = [
        {k: v for k, v in expectation.items() if k not in _EXPECTATION_DROP_KEYS}
        for expectation in suite.get("expectations") or []
    ]
    # suite_parameters only appears when set; keep the dict shape stable.
    if not suite.get("suite_parameters"):
        suite.pop("suite_parameters", None)
    return _jsonable(suite)
