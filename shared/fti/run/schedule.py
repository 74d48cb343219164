"""Schedule files: which notebooks of a system run, how often, in what order, with which parameters.

Each example system has one, ``notebooks/<system>/pipelines.yml``::

    system: titanic                    # optional; default: the folder's name
    start: 2026-01-05                  # optional; first day of `fti run SYSTEM --days N`
    timeout: 1800                      # optional; seconds one notebook may take (default 3600)
    parameters: {}                     # optional; given to every notebook
    pipelines:                         # in the order they run within a day
      - notebook: 01_feature_backfill  # path relative to this file (".ipynb" optional)
        schedule: once                 # once | daily | weekly | every N days | cron | on request
        after: []                      # notebooks earlier in this list that must not fail today
        parameters: {}                 # this notebook's own parameters (override the shared ones)
        timeout: 600                   # this notebook's time limit
      - notebook: 03_training_pipeline
        schedule: once
        requested_by: [05_monitoring]  # notebooks that may ask for a run of this one
        on_request: next day           # next day | same day (default: next day)

The runner adds ``run_date`` (an ISO date) to every notebook's parameters.
``fti run -p NAME=VALUE`` overrides a parameter for every notebook whose cell
tagged ``parameters`` declares ``NAME`` (and only for those).

When a notebook is due on a day (the runner works in whole days, UTC):

``once``
    while it has never succeeded before that day: the first day of the first
    simulation, and again only if no successful run is recorded.
``daily``
    every day.
``weekly``, ``every N days``
    when its last success is N (7) or more days before that day, or it never
    succeeded: it runs the first day, then every N days; a missed day is caught
    up the next day the system runs.
cron expression (``"0 6 * * MON"``)
    on each day on which the expression fires at least once. The time of day is
    only used to pick days; the order within a day is the order of the list.
``on request``
    never by itself: only when a notebook named in its ``requested_by`` asks.

Runs on request (`fti.request_run`): a notebook listed in another one's
``requested_by`` may ask for a run of it, for example monitoring asking for
training when its verdict is RETRAIN. The answer is given by ``on_request``:

``next day``
    the requested notebook is due the next day, at its own place in the day's
    order (as if its schedule said so; if it is due anyway, it runs once).
``same day``
    it runs the same day after the notebook that asked: at its own place if that
    comes later in the day, otherwise at the end of the day, after every
    scheduled notebook. A notebook runs at most once a day, so a same-day
    request for a notebook that already ran that day is answered the next day.

A request is kept in the store until a run of the requested notebook
succeeds, so a request made on the last simulated day is answered by the next
``fti run`` that covers the following day. Each run's reason (``scheduled``, or
``requested by 05_monitoring: drift in age``) is in the run log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fti.exceptions import FTIError, ScheduleError, UnknownSystemError
from fti.paths import NOTEBOOKS_DIR

SCHEDULE_FILE = "pipelines.yml"
DEFAULT_TIMEOUT = 3600.0
RUN_DATE_PARAMETER = "run_date"

_TOP_LEVEL_KEYS = {"system", "start", "timeout", "parameters", "pipelines"}
_ENTRY_KEYS = {"notebook", "schedule", "after", "parameters", "timeout", "requested_by", "on_request"}
_ALIASES = {"daily": 1, "weekly": 7}
ON_REQUEST_NEXT_DAY = "next day"
ON_REQUEST_SAME_DAY = "same day"
_ON_REQUEST = (ON_REQUEST_NEXT_DAY, ON_REQUEST_SAME_DAY)


@dataclass(frozen=True)
class Cadence:
    """How often a notebook runs: ``once``, every N days, on the days a cron expression fires, or on request.

    Attributes:
        text: The schedule as written in the file.
        every_days: N for "every N days" (1 for daily, 7 for weekly); ``None`` otherwise.
        cron: The cron expression; ``None`` otherwise.
        once: True for ``once``.
        on_request_only: True for ``on request``: never due by itself.
    """

    text: str
    every_days: int | None = None
    cron: str | None = None
    once: bool = False
    on_request_only: bool = False

    @classmethod
    def parse(cls, text: object, where: str = "schedule") -> Cadence:
        """Read a schedule such as ``daily``, ``every 3 days`` or ``"0 6 * * MON"``.

        Raises:
            ScheduleError: Not one of the accepted forms.
        """
        if not isinstance(text, str) or not text.strip():
            raise ScheduleError(f"{where}: {text!r} is not a schedule; {_SCHEDULE_HELP}")
        cleaned = " ".join(text.split())
        lowered = cleaned.lower()
        if lowered == "once":
            return cls(text=cleaned, once=True)
        if lowered == "on request":
            return cls(text=cleaned, on_request_only=True)
        if lowered in _ALIASES:
            return cls(text=cleaned, every_days=_ALIASES[lowered])
        words = lowered.split()
        if words[0] == "every":
            if len(words) == 3 and words[1].isdigit() and words[2] in {"day", "days"} and int(words[1]) >= 1:
                return cls(text=cleaned, every_days=int(words[1]))
            raise ScheduleError(f"{where}: {text!r} is not a schedule; write 'every N days' with N a whole number >= 1")
        return cls(text=cleaned, cron=_valid_cron(cleaned, where))

    def is_due(self, day: dt.date, last_success_before: dt.date | None) -> bool:
        """Whether the notebook runs on ``day``.

        Args:
            day: The day in question.
            last_success_before: The latest day before ``day`` on which the notebook
                succeeded, or ``None`` if it never did.
        """
        if self.on_request_only:
            return False
        if self.once:
            return last_success_before is None
        if self.every_days is not None:
            return last_success_before is None or (day - last_success_before).days >= self.every_days
        return _cron_fires_on(self.cron, day)


_SCHEDULE_HELP = ("use once, daily, weekly, 'every N days', 'on request' or a cron expression such as "
                  "'0 6 * * MON'")


def _valid_cron(expression: str, where: str) -> str:
    from croniter import croniter

    # Five fields (minute hour day month weekday) or a macro such as @weekly. croniter
    # also accepts seconds and years, which mean nothing for a day-by-day schedule.
    if not expression.startswith("@") and len(expression.split()) != 5:
        raise ScheduleError(f"{where}: {expression!r} is not a schedule; {_SCHEDULE_HELP}")
    if not croniter.is_valid(expression):
        raise ScheduleError(f"{where}: {expression!r} is not a valid cron expression; {_SCHEDULE_HELP}")
    return expression


def _cron_fires_on(expression: str | None, day: dt.date) -> bool:
    from croniter import croniter

    start = dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)
    end = dt.datetime.combine(day, dt.time(23, 59), tzinfo=dt.UTC)
    return bool(croniter.match_range(expression, start, end))


@dataclass(frozen=True)
class Pipeline:
    """One notebook of a schedule.

    Attributes:
        name: The notebook's file name without ``.ipynb``; names runs and outputs.
        notebook: Path of the source notebook.
        cadence: When it is due.
        after: Names of notebooks earlier in the day that must not fail for this one to run.
        parameters: Parameters from the file (shared ones merged with its own), without ``run_date``.
        timeout: Seconds one execution may take.
        position: Index in the day's order, from 0.
        requested_by: Notebooks that may ask for a run of this one (`fti.request_run`).
        on_request: When such a request is answered: ``"next day"`` or ``"same day"``;
            ``None`` when no notebook may ask.
    """

    name: str
    notebook: Path
    cadence: Cadence
    after: tuple[str, ...]
    parameters: Mapping[str, Any]
    timeout: float
    position: int
    requested_by: tuple[str, ...] = ()
    on_request: str | None = None


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule file.

    Attributes:
        system: The system's name (``titanic``).
        path: The schedule file.
        pipelines: The notebooks in the order they run within a day.
        start: The default first day of a simulation, if the file gives one.
    """

    system: str
    path: Path
    pipelines: tuple[Pipeline, ...]
    start: dt.date | None = None
    _by_name: dict[str, Pipeline] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({pipeline.name: pipeline for pipeline in self.pipelines})

    def pipeline(self, name: str) -> Pipeline:
        """The pipeline called ``name`` (with or without ``.ipynb``).

        Raises:
            ScheduleError: No notebook of that name in the schedule.
        """
        key = str(name).removesuffix(".ipynb")
        if key not in self._by_name:
            raise ScheduleError(
                f"{self.path}: no notebook named {name!r} in this schedule; it has {', '.join(self._by_name)}"
            )
        return self._by_name[key]

    def due_on(self, day: dt.date, last_success_before: Mapping[str, dt.date | None]) -> list[Pipeline]:
        """The notebooks due on ``day``, in the order they run.

        Args:
            day: The day.
            last_success_before: For each notebook name, the latest day before
                ``day`` on which it succeeded (missing or ``None``: never).
        """
        return [p for p in self.pipelines if p.cadence.is_due(day, last_success_before.get(p.name))]


def known_systems(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    """The systems with a schedule file in ``notebooks_dir`` (``notebooks/<system>/pipelines.yml``), sorted."""
    if not notebooks_dir.is_dir():
        return []
    return sorted(path.parent.name for path in notebooks_dir.glob(f"*/{SCHEDULE_FILE}"))


def find_schedule_file(system: str | Path, notebooks_dir: Path = NOTEBOOKS_DIR) -> Path:
    """Where the schedule of ``system`` is.

    Args:
        system: A system name (``titanic`` for ``notebooks/titanic/pipelines.yml``),
            a folder holding a ``pipelines.yml``, or the path of a schedule file.
        notebooks_dir: Where system names are looked up.

    Raises:
        UnknownSystemError: Nothing matches; the message lists the known systems.
        ScheduleError: ``system`` is neither a name nor a path.
    """
    if not isinstance(system, (str, Path)) or not str(system).strip():
        raise ScheduleError(f"system: expected a system's name, folder or schedule file, found {system!r}")
    candidate = Path(system).expanduser()
    if candidate.is_file():
        return candidate.resolve()
    if candidate.is_dir() and (candidate / SCHEDULE_FILE).is_file():
        return (candidate / SCHEDULE_FILE).resolve()
    by_name = notebooks_dir / str(system) / SCHEDULE_FILE
    if by_name.is_file():
        return by_name.resolve()
    listing = ", ".join(known_systems(notebooks_dir)) or "none"
    raise UnknownSystemError(
        f"unknown system {str(system)!r}: there is no {by_name} (nor is it a schedule file or a folder "
        f"with a {SCHEDULE_FILE}); systems with a schedule: {listing}"
    )


def load_schedule(system: str | Path, notebooks_dir: Path = NOTEBOOKS_DIR) -> Schedule:
    """Find, read and check the schedule of a system.

    Args:
        system: A system name, a folder with a ``pipelines.yml``, or a schedule file.
        notebooks_dir: Where system names are looked up.

    Raises:
        UnknownSystemError: No schedule for that system.
        ScheduleError: Unreadable file or YAML, unknown or malformed field, missing
            notebook, an ``after`` that does not name an earlier notebook, or a
            ``requested_by`` that does not name a notebook of the schedule.
    """
    path = find_schedule_file(system, notebooks_dir)
    return parse_schedule(read_yaml(path, ScheduleError), path)


def read_yaml(path: Path, error: type[FTIError]) -> object:
    """Read one of the kit's YAML files (a schedule, a story), turning every failure into ``error``.

    Raises:
        FTIError: ``error``, naming the file: unreadable, not valid YAML, or a value YAML
            cannot build (2026-13-01 looks like a date and the date constructor refuses it).
    """
    import yaml  # on first use: `import fti` stays quick

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    except ValueError as exc:
        raise error(f"{path}: a value is not valid: {exc}") from None


def yaml_problem(exc: Exception) -> str:
    """A YAML parse error on one line: where it is and what is wrong (PyYAML's own message takes five)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def parse_schedule(document: object, path: str | Path) -> Schedule:
    """Check a schedule document (already read from YAML) and build the `Schedule`.

    Args:
        document: The parsed YAML.
        path: The file it came from: names it in errors, and notebook paths are relative to its folder.

    Raises:
        ScheduleError: See `load_schedule`.
    """
    path = Path(path)
    if not isinstance(document, dict):
        raise ScheduleError(
            f"{path}: expected a mapping with a 'pipelines' list at the top, found {type(document).__name__}")
    _reject_unknown_keys(document, _TOP_LEVEL_KEYS, f"{path}")
    system = document.get("system", path.parent.name)
    if not isinstance(system, str) or not system.strip():
        raise ScheduleError(f"{path}: system: expected a name, found {system!r}")
    start = parse_date(document["start"], f"{path}: start") if document.get("start") is not None else None
    default_timeout = _timeout(document.get("timeout", DEFAULT_TIMEOUT), f"{path}: timeout")
    shared_parameters = _parameters(document.get("parameters"), f"{path}: parameters")

    entries = document.get("pipelines")
    if not isinstance(entries, list) or not entries:
        raise ScheduleError(f"{path}: pipelines: expected a non-empty list of notebooks, found {entries!r}")
    pipelines: list[Pipeline] = []
    for position, entry in enumerate(entries):
        where = f"{path}: pipelines[{position}]"
        if not isinstance(entry, dict):
            raise ScheduleError(f"{where}: expected a mapping with 'notebook' and 'schedule', found {entry!r}")
        _reject_unknown_keys(entry, _ENTRY_KEYS, where)
        notebook = _notebook_path(entry.get("notebook"), path.parent, f"{where}.notebook")
        name = notebook.stem
        where = f"{path}: pipelines[{position}] ({name})"
        if name in {p.name for p in pipelines}:
            raise ScheduleError(f"{where}: notebook {name!r} is listed twice")
        if "schedule" not in entry:
            raise ScheduleError(f"{where}: schedule is missing; {_SCHEDULE_HELP}")
        cadence = Cadence.parse(entry["schedule"], f"{where}.schedule")
        after = _after(entry.get("after"), {p.name for p in pipelines}, name, f"{where}.after")
        parameters = {**shared_parameters, **_parameters(entry.get("parameters"), f"{where}.parameters")}
        timeout = _timeout(entry.get("timeout", default_timeout), f"{where}.timeout")
        requested_by, on_request = _on_request(entry, cadence, name, where)
        pipelines.append(Pipeline(name=name, notebook=notebook, cadence=cadence, after=after,
                                  parameters=parameters, timeout=timeout, position=position,
                                  requested_by=requested_by, on_request=on_request))
    names = [p.name for p in pipelines]
    for pipeline in pipelines:
        for requester in pipeline.requested_by:
            if requester not in names:
                raise ScheduleError(
                    f"{path}: pipelines[{pipeline.position}] ({pipeline.name}).requested_by: {requester!r} is not a "
                    f"notebook of this schedule; its notebooks: {', '.join(names)}")
    return Schedule(system=system.strip(), path=path, pipelines=tuple(pipelines), start=start)


def _on_request(entry: dict, cadence: Cadence, name: str, where: str) -> tuple[tuple[str, ...], str | None]:
    """``requested_by`` and ``on_request`` of one entry, checked (the requesters' existence is checked later)."""
    raw = entry.get("requested_by")
    if raw is None:
        if entry.get("on_request") is not None:
            raise ScheduleError(f"{where}.on_request: needs requested_by, the notebooks that may ask for a run")
        if cadence.on_request_only:
            raise ScheduleError(f"{where}.schedule: 'on request' needs requested_by, the notebooks that may ask "
                                f"for a run, e.g. requested_by: [05_monitoring]")
        return (), None
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names or not all(isinstance(item, str) and item.strip() for item in names):
        raise ScheduleError(f"{where}.requested_by: expected a list of notebook names, found {raw!r}")
    requesters = tuple(dict.fromkeys(item.strip().removesuffix(".ipynb") for item in names))
    if name in requesters:
        raise ScheduleError(f"{where}.requested_by: a notebook cannot ask for a run of itself")
    when = entry.get("on_request", ON_REQUEST_NEXT_DAY)
    cleaned = " ".join(str(when).replace("_", " ").split()).lower() if isinstance(when, str) else None
    if cleaned not in _ON_REQUEST:
        raise ScheduleError(f"{where}.on_request: {when!r} is not 'next day' or 'same day'")
    return requesters, cleaned


def parse_date(value: object, where: str = "date") -> dt.date:
    """An ISO date (``2026-01-05``) from a string or a date.

    Raises:
        ScheduleError: Not a date.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ScheduleError(f"{where}: {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-01-05")


def _reject_unknown_keys(mapping: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(str(key) for key in mapping if key not in allowed)
    if unknown:
        raise ScheduleError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _notebook_path(value: object, folder: Path, where: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ScheduleError(f"{where}: expected the notebook's file name, found {value!r}")
    relative = value.strip()
    if not relative.endswith(".ipynb"):
        relative += ".ipynb"
    notebook = (folder / relative).resolve()
    if not notebook.is_file():
        raise ScheduleError(f"{where}: notebook {notebook} does not exist")
    return notebook


def _after(value: object, earlier: set[str], name: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(item, str) for item in names):
        raise ScheduleError(f"{where}: expected a list of notebook names, found {value!r}")
    cleaned = tuple(item.strip().removesuffix(".ipynb") for item in names)
    for item in cleaned:
        if item == name:
            raise ScheduleError(f"{where}: a notebook cannot run after itself")
        if item not in earlier:
            listed = ", ".join(sorted(earlier)) or "none"
            raise ScheduleError(
                f"{where}: {item!r} is not a notebook listed before this one (the list is the order within a "
                f"day, so a notebook can only depend on earlier ones); earlier notebooks: {listed}"
            )
    return cleaned


def _parameters(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ScheduleError(f"{where}: expected a mapping of parameter names to values, found {value!r}")
    if RUN_DATE_PARAMETER in value:
        raise ScheduleError(f"{where}: {RUN_DATE_PARAMETER} is set by the runner for each day; remove it here")
    # YAML reads 2026-01-05 as a date, which papermill cannot inject; notebooks get the ISO text.
    return {key: item.isoformat() if isinstance(item, dt.date) else item for key, item in value.items()}


def _timeout(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ScheduleError(f"{where}: expected a positive number of seconds, found {value!r}")
    return float(value)


def declared_parameters(notebook: Path) -> tuple[str, ...]:
    """The names a notebook's cell tagged ``parameters`` assigns, in order (empty without such a cell).

    Read from the cell's Python source (``x = 1`` and ``x: int = 1``), as papermill's
    own inspection does, without starting a kernel.

    Raises:
        ScheduleError: The notebook cannot be read, or its parameters cell is not valid Python.
    """
    import ast
    import json

    try:
        document = json.loads(Path(notebook).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ScheduleError(f"{notebook}: cannot read its parameters: {exc}") from None
    cells = document.get("cells", []) if isinstance(document, dict) else []
    for cell in cells:
        if "parameters" not in (cell.get("metadata", {}).get("tags") or []):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            raise ScheduleError(f"{notebook}: the cell tagged parameters is not valid Python: {exc.msg} "
                                f"(line {exc.lineno})") from None
        names: list[str] = []
        for statement in tree.body:
            targets = statement.targets if isinstance(statement, ast.Assign) else (
                [statement.target] if isinstance(statement, ast.AnnAssign) else [])
            names += [target.id for target in targets if isinstance(target, ast.Name)]
        return tuple(dict.fromkeys(names))
    return ()


def parameter_overrides(schedule: Schedule, overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Which notebook gets which override (``fti run -p NAME=VALUE``): only those that declare ``NAME``.

    papermill injects any parameter it is given and only warns when the notebook
    does not declare it, so an override is given to a notebook only if its cell
    tagged ``parameters`` assigns that name.

    Args:
        schedule: The system's schedule.
        overrides: ``{name: value}`` from the command line.

    Returns:
        ``{notebook name: {name: value}}`` for every notebook of the schedule
        (an empty mapping for those that declare none of the names).

    Raises:
        ScheduleError: An override of ``run_date`` (set for each day by the runner),
            a name that is not an identifier, or one that no notebook of the schedule declares.
    """
    declared = {pipeline.name: declared_parameters(pipeline.notebook) for pipeline in schedule.pipelines}
    for name in overrides:
        if not isinstance(name, str) or not name.isidentifier():
            raise ScheduleError(f"parameter {name!r}: not a valid parameter name")
        if name == RUN_DATE_PARAMETER:
            raise ScheduleError(f"-p {RUN_DATE_PARAMETER}: set by the runner for each day; choose the days with "
                                f"--start/--days or --date instead")
        if not any(name in names for names in declared.values()):
            known = sorted({item for names in declared.values() for item in names} - {RUN_DATE_PARAMETER})
            raise ScheduleError(
                f"-p {name}: no notebook of {schedule.system} declares a parameter {name!r} in its cell tagged "
                f"parameters; they declare: {', '.join(known) or 'none'}")
    return {pipeline: {name: value for name, value in overrides.items() if name in names}
            for pipeline, names in declared.items()}
