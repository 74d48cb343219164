"""Every error `fti` raises on purpose.

One base class, `FTIError`, so a notebook or a scheduler can catch "anything the
store refused" in one place; specific subclasses say what went wrong. Each
message names the thing (feature group, column, model, store path) and the
problem, because the reader is usually a student looking at a traceback.
"""

from __future__ import annotations


class FTIError(Exception):
    """Base class of every error raised by `fti`."""


class InvalidTimeError(FTIError, ValueError):
    """A date or time the kit cannot read: ``FTI_NOW``, ``as_of``, a start or end time."""


class NotebookFormatError(FTIError, ValueError):
    """A file that should be a notebook is not one (no list of cells)."""


class InvalidNameError(FTIError, ValueError):
    """A name (feature group, column, model, alias) is not a valid identifier."""


class SchemaError(FTIError, ValueError):
    """A DataFrame does not fit a feature group: columns, dtypes, keys or event times."""


class ParameterError(FTIError, ValueError):
    """A function or notebook parameter has an impossible value: a malformed date, a count below 1, a NaN."""


class ParameterTypeError(ParameterError, TypeError):
    """A parameter has the wrong type (a number where a date is due, a bool where a count is due).

    Both a `ParameterError`, so one ``except`` catches every bad parameter, and a
    ``TypeError``, as Python code expects of a wrong type.
    """


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


class NotASuiteError(InvalidSuiteError, TypeError):
    """Something given as an expectation suite is neither a ``gx.ExpectationSuite`` nor a dict (a string, a number)."""


class NotFoundError(FTIError, LookupError):
    """Something asked for by name does not exist in the store."""


class FeatureGroupNotFoundError(NotFoundError):
    """No feature group with this name and version."""


class FeatureViewNotFoundError(NotFoundError):
    """No feature view with this name and version."""


class ModelNotFoundError(NotFoundError):
    """No model with this name, version or alias."""


class PromotionError(FTIError, ValueError):
    """The promotion gate cannot compare two model versions fairly.

    For example the candidate's training dataset has no test rows, or the two
    models' feature views identify rows by different keys.
    """


class TrainingDatasetNotFoundError(NotFoundError):
    """A feature view has no training dataset with this version (call ``train_test_split`` first)."""


class SecretNotFoundError(NotFoundError):
    """A secret is in no environment variable and not in the store's secrets file (see `fti.project.secrets`)."""


class SecretExistsError(FTIError, ValueError):
    """``create_secret`` names a secret the store's secrets file already holds; nothing was written."""


class DatasetNotFoundError(NotFoundError, FileNotFoundError):
    """A path in the project's file area (``project.get_dataset_api()``), or a local file to upload, does not exist.

    Also a ``FileNotFoundError``, as code catching a missing file expects.
    """


class DatasetExistsError(FTIError, FileExistsError):
    """An upload, download, copy or move would replace an existing file or folder without ``overwrite=True``.

    Also a ``FileExistsError`` (an ``IOError``), which is what the Hopsworks client raises for a download.
    """


class DatasetPathError(ParameterError):
    """A path for the project's file area that would leave it (``..``, an absolute path) or that names its root."""


class InUseError(FTIError, ValueError):
    """A delete is refused because something else still uses the thing; nothing was deleted.

    A feature group that a feature view reads, a feature view that a model was
    trained from, a model version that an alias points at.
    """


class QueryError(FTIError, ValueError):
    """A query or feature view is malformed: unknown features, a join with no common key, clashing names."""


class TransformationError(QueryError, TypeError):
    """A transformation function cannot be made: an unknown name, unknown or ill-typed parameters, a bad step list."""


class TimeTravelError(FTIError, ValueError):
    """An ``as_of`` that the store cannot answer, such as a time before the first commit."""


class ServingError(FTIError, ValueError):
    """An online lookup cannot be served: missing serving keys or request parameters."""


class ServingKeyError(ServingError, TypeError):
    """A serving key value cannot be looked up: its type differs from the key column's, or it is out of range.

    For example the text ``"2"`` for a whole-number key, or a ``uint64`` beyond the
    64-bit signed range the store keeps.
    """


class LoggingDisabledError(ServingError):
    """``fv.log(...)`` on a feature view whose logging is not enabled.

    Enable it with ``fv.enable_logging()``, or create the view with ``logging_enabled=True``.
    """


class DeltaLakeError(FTIError, ValueError):
    """A feature group cannot be exported to, or imported from, a Delta Lake table; nothing was written.

    For example the export folder exists already, or the feature group to import into does.
    """


class NotADeltaTableError(DeltaLakeError, NotFoundError):
    """A path to import from is not a Delta Lake table (no ``_delta_log`` folder there)."""


class DeltaSchemaError(DeltaLakeError, SchemaError):
    """A Delta table does not fit a feature group.

    A key or event time column is missing, a column has a type the kit cannot keep
    (dates, decimals, nested types, nanosecond times), or keys are null or repeated.
    """


class DeltaHistoryError(DeltaLakeError):
    """A Delta table's history cannot become feature group commits.

    Rows deleted between two versions (a feature group's history only adds and
    replaces rows), a schema that changes between versions, versions whose files
    were vacuumed, or commit times out of order with the store's own commits.
    ``history="latest"`` or ``commit_times="now"`` avoid most of these.
    """


class ArtifactIntegrityError(FTIError):
    """A model artifact on disk does not match the SHA-256 recorded when it was saved."""


class ModelSaveError(FTIError, ValueError):
    """The registry cannot save this object as a model: it cannot be pickled, or a path to save does not exist."""


class DeploymentError(FTIError, ValueError):
    """A model deployment cannot be created, started, stopped or deleted as asked.

    For example its name is not alphanumeric (Hopsworks' rule), a deployment of that
    name exists already, or it has no predictor script.
    """


class DeploymentNotFoundError(NotFoundError, DeploymentError):
    """No deployment with this name in the store (``model.deploy(name=...)`` creates one)."""


class DeploymentNotRunningError(DeploymentError):
    """``deployment.predict(...)`` on a deployment that is stopped: call ``deployment.start()`` first."""


class PredictorScriptError(DeploymentError):
    """A deployment's predictor script cannot be used.

    The file is missing, does not import, defines no ``Predict`` (or ``Predictor``)
    class, or its ``__init__`` raised.
    """


class PredictionError(DeploymentError):
    """A deployment's ``predict`` raised, or returned something that is not JSON (numbers, lists, dicts, text)."""


class StoreBusyError(FTIError, TimeoutError):
    """Another process held the store for longer than the bounded wait."""


class WriterClosedError(FTIError, RuntimeError):
    """A micro-batch writer was used after it was closed (``fg.micro_batch_writer()`` opens a new one)."""


class StoreDamagedError(FTIError, RuntimeError):
    """A database file of the store is damaged (truncated, overwritten, not a database at all).

    The offline history (``offline.duckdb``) cannot be rebuilt: restore it from a backup
    (``fti store backup``). The online copy (``online.sqlite``) is derived from it and is
    rebuilt by itself; this error names it only when even that failed.
    """


class OnlineStoreRebuiltWarning(UserWarning):
    """The online copy was damaged; it was moved aside (kept for inspection) and rebuilt from the history."""


class NameClashError(InvalidNameError):
    """A name differs from an existing one only in case (``Cards`` and ``cards``); the store refuses both spellings.

    DuckDB, and therefore the store, treats names case-insensitively: two such names
    would share one table.
    """


class OnlineCapacityError(SchemaError):
    """An online-enabled feature group has more columns than the online copy (SQLite) can hold; nothing was written."""


class StoreConfigError(FTIError, ValueError):
    """The store cannot be used as configured: a path that is not a folder, a malformed ``FTI_LOCK_TIMEOUT``."""


class TimelineError(StoreConfigError):
    """Work on the real clock in a store that holds a simulation, or the other way round; nothing was written.

    A store follows one timeline, recorded at its first commit: ``simulated``
    (a fixed clock, ``FTI_NOW``: ``fti run --start/--days``, ``make notebooks``)
    or ``real`` (JupyterLab, scripts, ``fti run --now``).
    """


class SecretsFileError(StoreConfigError):
    """The store's secrets file (``secrets.json``) cannot be read or written: not JSON, or not names mapped to text."""


class ScheduleError(FTIError, ValueError):
    """A schedule file (``pipelines.yml``) or a run request is malformed.

    For example an unknown system, field or notebook, or a bad date.
    """


class PipelineFailedError(FTIError):
    """A scheduled notebook failed or timed out; the notebooks that depend on it did not run.

    Attributes:
        failures: One `fti.run.execute.ExecutionResult` per notebook that failed or timed out.
    """

    def __init__(self, message: str, failures: list | None = None):
        self.failures = failures or []
        super().__init__(message)


class UnknownSystemError(ScheduleError, NotFoundError):
    """No example system of that name: no schedule for it, or no runs of it in the store's run log."""


class ExecutionRequestError(FTIError, ValueError):
    """A notebook execution is asked for wrongly.

    Its output path is its source notebook, its time limit is not positive, two
    executions would write one output, or an executor is given no workers.
    """


class ExecutorError(ExecutionRequestError):
    """An executor cannot be chosen or reached: an unknown ``--executor``, an unreachable Dask scheduler."""


class KernelNotReadyError(FTIError, RuntimeError):
    """A notebook's kernel died, or did not answer, before its first cell; the execution ends as a result."""


class BatchError(FTIError, ValueError):
    """A batch request (``fti batch``) is malformed: no notebooks, a missing file, a bad parameter or grid."""


class StoryError(FTIError, ValueError):
    """A notebook story (``notebooks/<system>/story.yml``) is missing or malformed."""


class ScaffoldError(FTIError, ValueError):
    """``fti new`` cannot create a system: the name is taken, the kind is unknown, or a target exists.

    Nothing is written when it is raised (an invalid name raises `InvalidNameError`).
    """


class SourceError(FTIError, ValueError):
    """A system's source adapter cannot answer: its recorded fixture does not cover the days asked, or is missing."""


class ExerciseError(FTIError, ValueError):
    """An exercise or a submission is malformed.

    Unbalanced solution markers, a check without literal points, a submission
    matching no exercise, or a submissions folder that does not exist.
    """


class ServeError(FTIError, ValueError):
    """A system cannot be served (``fti serve``).

    No ``systems.<name>.serving`` module (or no ``--module`` of that name), no
    ``service`` function in it, a service missing part of the contract of
    `fti.serve`, or an address the server cannot listen on.
    """


class RequestFieldError(ParameterError):
    """A prediction request does not fit the service's request fields: one missing, unknown, or of the wrong type.

    The HTTP server answers it with status 400.

    Attributes:
        field: The name of the field at fault (``None`` when the request as a whole is malformed).
    """

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


class StreamError(FTIError, ValueError):
    """A stream (`fti.stream`) cannot run as asked: a bad window spec, or a micro-batch it refuses.

    A refused micro-batch changes nothing: the engine checks the whole batch before
    any event enters its state.
    """


class WindowSpecError(StreamError):
    """A `WindowSpec` that cannot work: an unknown function, a non-positive window, two outputs with one name."""


class StreamInputError(StreamError, SchemaError):
    """A micro-batch of events that does not fit the spec: a missing column, a null key or time, a naive datetime."""
