"""Every error `fti` raises on purpose.

One base class, `FTIError`, so a notebook or a scheduler can catch "anything the
store refused" in one place; specific subclasses say what went wrong. Each
message names the thing (feature group, column, model, store path) and the
problem, because the reader is usually a student looking at a traceback.
"""

from __future__ import annotations


class FTIError(Exception):
    """Base class of every error raised by `fti`."""


class InvalidNameError(FTIError, ValueError):
    """A name (feature group, column, model, alias) is not a valid identifier."""


class SchemaError(FTIError, ValueError):
    """A DataFrame does not fit a feature group: columns, dtypes, keys or event times."""


class ExpectationsFailedError(FTIError):
    """A frame failed its expectation suite under the ``strict`` policy; nothing was written.

    Attributes:
        feature_group: Name and version of the feature group, e.g. ``"passengers v1"``.
        failures: One dict per failed expectation with ``expectation``, ``column``,
            ``kwargs`` and ``examples`` (a few offending values).
        report_id: Id of the validation report kept in the store.
    """

    def __init__(self, feature_group: str, failures: list[dict], report_id: int | None = None):
        self.feature_group = feature_group
        self.failures = failures
        self.report_id = report_id
        lines = [f"feature group {feature_group}: {len(failures)} expectation(s) failed; nothing was written"]
        for failure in failures:
            column = failure.get("column")
            where = f" on column '{column}'" if column else ""
            examples = failure.get("examples") or []
            shown = f" (examples: {examples!r})" if examples else ""
            lines.append(f"  - {failure['expectation']}{where}{shown}")
        super().__init__("\n".join(lines))


class InvalidSuiteError(FTIError, ValueError):
    """An expectation suite cannot be built: unknown expectation types or invalid arguments."""


class NotFoundError(FTIError, LookupError):
    """Something asked for by name does not exist in the store."""


class FeatureGroupNotFoundError(NotFoundError):
    """No feature group with this name and version."""


class FeatureViewNotFoundError(NotFoundError):
    """No feature view with this name and version."""


class ModelNotFoundError(NotFoundError):
    """No model with this name, version or alias."""


class TrainingDatasetNotFoundError(NotFoundError):
    """A feature view has no training dataset with this version (call ``train_test_split`` first)."""


class QueryError(FTIError, ValueError):
    """A query or feature view is malformed: unknown features, a join with no common key, clashing names."""


class TimeTravelError(FTIError, ValueError):
    """An ``as_of`` that the store cannot answer, such as a time before the first commit."""


class ServingError(FTIError, ValueError):
    """An online lookup cannot be served: missing serving keys or request parameters."""


class ArtifactIntegrityError(FTIError):
    """A model artifact on disk does not match the SHA-256 recorded when it was saved."""


class StoreBusyError(FTIError, TimeoutError):
    """Another process held the store for longer than the bounded wait."""


class ScheduleError(FTIError, ValueError):
    """A schedule file (``pipelines.yml``) or a run request is malformed: unknown system, field or notebook, bad date."""


class PipelineFailedError(FTIError):
    """A scheduled notebook failed or timed out; the notebooks that depend on it did not run.

    Attributes:
        failures: One `fti.run.execute.ExecutionResult` per notebook that failed or timed out.
    """

    def __init__(self, message: str, failures: list | None = None):
        self.failures = failures or []
        super().__init__(message)
