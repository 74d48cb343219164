"""``fti check``: is an ML system's shape sound? Each finding is one line saying what to change.

A system is a folder of numbered pipeline notebooks (``notebooks/NAME/``) with a
schedule (``pipelines.yml``), a package of its own code (``shared/systems/NAME/``)
and tests (``tests/systems/NAME/``). `check_system` reads the folder and reports:

Without running anything (``run=False``, ``fti check --static``):

* every notebook is numbered (``03_training_pipeline.ipynb``), each number once;
* each has exactly one cell tagged ``parameters``, whose every value has a type and
  a comment, and which declares ``run_date`` (the scheduler passes it);
* each starts with a markdown title saying which pipeline it is;
* no notebook edits ``sys.path``, installs packages (``!pip install``) or defines
  functions and classes (they belong in the system's package, defined once);
* ``pipelines.yml`` is valid and names existing notebooks, with valid schedules (a
  notebook it leaves out, such as a lesson, is not a pipeline: it is not scheduled);
* there is a feature, a training and an inference pipeline (by their names);
* the feature groups of feature and inference pipelines are created with an event
  time; the training pipeline registers a model with ``feature_view=`` (its
  lineage); inference loads the model by alias;
* a ``story.yml`` (how nbval executes the notebooks) and a ``README.md`` exist, and,
  inside a project, the package and a test.

With ``run=True`` (the default), also:

* each notebook runs alone, in its own kernel with papermill, in the schedule's
  order, on a fresh scratch store, with its own defaults and its source on the
  recorded fixture (``data_source="fixture"`` when it declares that parameter);
* every version of the model the training pipeline registered has its lineage
  (feature view, training dataset), and the feature groups it trains from have
  event times.

Findings say what to change, never just what is wrong. A folder can be checked
by name (``titanic``, looked up in ``notebooks/``) or by path, so copies in a
temporary folder can be checked as well. The helpers `offline_parameters` and
`offline_schedule` give tests the same "run on the fixture" parameters.
"""

from __future__ import annotations

import ast
import datetime as dt
import io
import json
import re
import tempfile
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fti.exceptions import FTIError, NotebookFormatError, ScheduleError, UnknownSystemError
from fti.paths import NOTEBOOKS_DIR, RUNS_DIR

if TYPE_CHECKING:
    from fti.run.schedule import Schedule

__all__ = [
    "Finding",
    "NotebookParameter",
    "ShapeReport",
    "SystemFolders",
    "all_systems",
    "check_system",
    "locate",
    "notebook_parameters",
    "offline_parameters",
    "offline_schedule",
]

PARAMETERS_TAG = "parameters"
RUN_DATE = "run_date"
# The convention that puts a system on its recorded fixture: the source adapter's notebooks declare it.
FIXTURE_PARAMETERS: dict[str, Any] = {"data_source": "fixture"}
# Parameters naming a folder a notebook writes outside the store: pointed into the scratch folder.
SCRATCH_PARAMETERS: tuple[str, ...] = ("dashboard_dir",)
DEFAULT_TIMEOUT = 600.0

_NUMBERED = re.compile(r"(\d{2})_[a-z0-9]+(?:_[a-z0-9]+)*")
_SYS_PATH = re.compile(r"\bsys\.path\s*(?:\.\s*(?:append|insert|extend)\s*\(|\+=|=(?!=)|\[)|\bsite\.addsitedir\s*\(")
_INSTALL = re.compile(r"^\s*[!%]{1,2}\s*(?:pip3?|conda|mamba|uv\s+pip)\s+install\b|\bpip3?\s+install\b"
                      r"|[\"']pip3?[\"']\s*,\s*[\"']install[\"']", re.MULTILINE)
_FEATURE_GROUP_CALLS = {"get_or_create_feature_group", "create_feature_group"}
# A notebook's role, read from its name.
_ROLES: dict[str, tuple[str, ...]] = {
    "feature": ("feature", "backfill"),
    "training": ("train",),
    "inference": ("inference", "predict", "serving"),
}
_ROLE_EXAMPLES = {
    "feature": "02_feature_pipeline.ipynb",
    "training": "03_training_pipeline.ipynb",
    "inference": "04_batch_inference.ipynb",
}


@dataclass(frozen=True)
class Finding:
    """One thing to change: where, and what to do.

    Attributes:
        where: The file or folder concerned, as shown to the reader.
        problem: What is wrong and what to change, in one line.
    """

    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass
class ShapeReport:
    """The outcome of `check_system`.

    Attributes:
        system: The system's name (its folder's name).
        folder: The folder of its notebooks.
        findings: What to change; empty when the shape is sound.
        checks: The checks that ran, in order.
        executed: The executed notebooks, when the notebooks were run.
    """

    system: str
    folder: Path
    findings: list[Finding] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    executed: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether nothing needs to change."""
        return not self.findings

    def text(self) -> str:
        """One line per finding, then a summary line."""
        lines = [str(finding) for finding in self.findings]
        if self.ok:
            lines.append(f"{self.system}: the shape is sound ({len(self.checks)} checks)")
        else:
            lines.append(f"{self.system}: {len(self.findings)} finding(s) in {len(self.checks)} checks")
        return "\n".join(lines)


@dataclass(frozen=True)
class SystemFolders:
    """Where a system's parts are.

    Attributes:
        name: The system's name.
        notebooks: Its notebook folder.
        root: The project holding it (``ROOT/notebooks/NAME``), or None for a folder elsewhere.
    """

    name: str
    notebooks: Path
    root: Path | None

    @property
    def package(self) -> Path | None:
        """``ROOT/shared/systems/NAME``, inside a project."""
        return self.root / "shared" / "systems" / self.name if self.root else None

    @property
    def tests(self) -> Path | None:
        """``ROOT/tests/systems/NAME``, inside a project."""
        return self.root / "tests" / "systems" / self.name if self.root else None


@dataclass(frozen=True)
class NotebookParameter:
    """One assignment of a notebook's cell tagged ``parameters``.

    Attributes:
        name: The variable.
        annotation: Its type as written (``"int"``), or None.
        default: The default's source text.
        comment: The comment on its line, or None.
        line: Its line in the cell, from 1.
    """

    name: str
    annotation: str | None
    default: str
    comment: str | None
    line: int


def locate(system: str | Path, notebooks_dir: Path = NOTEBOOKS_DIR) -> SystemFolders:
    """Find a system's folders from its name or its notebook folder.

    Args:
        system: A name (``titanic``, looked up in ``notebooks_dir``) or a folder of notebooks.
        notebooks_dir: Where names are looked up.

    Raises:
        UnknownSystemError: No such folder; the message lists the systems in ``notebooks_dir``.
    """
    text = str(system).strip()
    candidate = Path(text).expanduser()
    if text and candidate.is_dir() and (candidate.is_absolute() or "/" in text or text.startswith(".")):
        folder = candidate.resolve()
    elif text and (Path(notebooks_dir) / text).is_dir():
        folder = (Path(notebooks_dir) / text).resolve()
    elif text and candidate.is_dir():
        folder = candidate.resolve()
    else:
        known = ", ".join(_systems_in(Path(notebooks_dir))) or "none"
        raise UnknownSystemError(f"unknown system {text!r}: no folder {Path(notebooks_dir) / text} (nor is it a "
                                 f"folder of notebooks); systems in {notebooks_dir}: {known}")
    root = folder.parent.parent if folder.parent.name == "notebooks" else None
    return SystemFolders(name=folder.name, notebooks=folder, root=root)


def _systems_in(notebooks_dir: Path) -> list[str]:
    if not notebooks_dir.is_dir():
        return []
    return sorted(path.name for path in notebooks_dir.iterdir()
                  if path.is_dir() and not path.name.startswith(".") and any(path.glob("*.ipynb")))


def all_systems(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    """The systems in ``notebooks_dir``: its folders that hold notebooks, sorted."""
    return _systems_in(Path(notebooks_dir))


# -- reading notebooks ---------------------------------------------------------------------------


def _read_notebook(path: Path) -> dict:
    """The notebook's JSON document.

    Raises:
        NotebookFormatError: Not a notebook (a subclass of ValueError, as json's own error is).
    """
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        raise NotebookFormatError("not a notebook: no list of cells")
    return document


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _tags(cell: dict) -> list[str]:
    return list((cell.get("metadata") or {}).get("tags") or [])


def _parameter_cells(document: dict) -> list[dict]:
    return [cell for cell in document["cells"] if cell.get("cell_type") == "code" and PARAMETERS_TAG in _tags(cell)]


def notebook_parameters(notebook: Path) -> list[NotebookParameter]:
    """The assignments of a notebook's cell tagged ``parameters`` (empty without one).

    Raises:
        ValueError: The notebook cannot be read, or its parameters cell is not valid Python.
    """
    cells = _parameter_cells(_read_notebook(Path(notebook)))
    return _parse_parameters(_source(cells[0])) if cells else []


def _parse_parameters(source: str) -> list[NotebookParameter]:
    tree = ast.parse(source)
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    found = []
    for statement in tree.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            names, annotation = [statement.target.id], ast.unparse(statement.annotation)
        elif isinstance(statement, ast.Assign):
            names = [target.id for target in statement.targets if isinstance(target, ast.Name)]
            annotation = None
        else:
            continue
        value = getattr(statement, "value", None)
        default = ast.get_source_segment(source, value) if value is not None else ""
        line = statement.end_lineno or statement.lineno
        comment = comments.get(line) or None
        found += [NotebookParameter(name, annotation, default or "", comment, statement.lineno) for name in names]
    return found


def offline_parameters(notebook: Path, scratch: Path) -> dict[str, Any]:
    """The parameters that run a notebook offline and keep its files out of the project.

    ``data_source="fixture"`` when the notebook declares ``data_source`` (the
    source adapter's convention), and every folder parameter it declares (such as
    ``dashboard_dir``) pointed into ``scratch``.
    """
    declared = {parameter.name for parameter in notebook_parameters(notebook)}
    chosen: dict[str, Any] = {name: value for name, value in FIXTURE_PARAMETERS.items() if name in declared}
    chosen.update({name: str(Path(scratch) / name.removesuffix("_dir")) for name in SCRATCH_PARAMETERS
                   if name in declared})
    return chosen


def offline_schedule(system: str | Path, scratch: Path, notebooks_dir: Path = NOTEBOOKS_DIR) -> Schedule:
    """A system's schedule with every notebook on its recorded fixture (see `offline_parameters`).

    What a system's own test simulates: the real ``pipelines.yml``, except that a
    notebook that reads the source reads the fixture, and dashboards go to ``scratch``.

    Raises:
        UnknownSystemError: No such system.
        ScheduleError: Its ``pipelines.yml`` is missing or malformed.
    """
    import yaml

    from fti.run.schedule import SCHEDULE_FILE, load_schedule, parse_schedule

    folders = locate(system, notebooks_dir)
    schedule = load_schedule(folders.notebooks)
    document = yaml.safe_load(schedule.path.read_text(encoding="utf-8"))
    for entry, pipeline in zip(document["pipelines"], schedule.pipelines, strict=True):
        entry["parameters"] = {**(entry.get("parameters") or {}), **offline_parameters(pipeline.notebook, scratch)}
    return parse_schedule(document, folders.notebooks / SCHEDULE_FILE)


# -- the checks ----------------------------------------------------------------------------------


@dataclass
class _Notebook:
    """What the checks need of one notebook."""

    path: Path
    document: dict | None
    code: list[tuple[int, str]] = field(default_factory=list)  # (cell number from 1, source) of code cells

    @property
    def roles(self) -> set[str]:
        stem = self.path.stem.lower()
        return {role for role, words in _ROLES.items() if any(word in stem for word in words)}


class _Checker:
    """Runs the checks of one system and collects findings."""

    def __init__(self, folders: SystemFolders):
        self.folders = folders
        self.report = ShapeReport(system=folders.name, folder=folders.notebooks)

    def shown(self, path: Path) -> str:
        """``path`` relative to the project (or else the working folder), as findings show it."""
        for base in (self.folders.root, Path.cwd()):
            if base is not None and path.is_relative_to(base):
                return str(path.relative_to(base))
        return str(path)

    def find(self, path: Path, problem: str) -> None:
        self.report.findings.append(Finding(self.shown(path), problem))

    def check(self, name: str) -> None:
        self.report.checks.append(name)


def check_system(system: str | Path, *, notebooks_dir: Path = NOTEBOOKS_DIR, run: bool = True,
                 work_dir: Path | None = None, timeout: float | None = None) -> ShapeReport:
    """Check a system's shape; see the module's docstring for the checks.

    Args:
        system: A system name (looked up in ``notebooks_dir``) or a folder of notebooks.
        notebooks_dir: Where names are looked up.
        run: Also run each notebook alone on the fixture (slow: a kernel per notebook).
        work_dir: Where executed notebooks (``executed/``) and other files written by the runs
            go; default: ``runs/check/NAME/``. The store is always a fresh temporary one.
        timeout: Seconds each notebook may take (default: its schedule's time limit, or 600).

    Returns:
        The report; `ShapeReport.ok` when nothing needs to change.

    Raises:
        UnknownSystemError: No such system.
    """
    folders = locate(system, notebooks_dir)
    checker = _Checker(folders)
    notebooks = _check_notebooks(checker)
    schedule = _check_schedule(checker, notebooks)
    _check_roles(checker, notebooks)
    _check_files(checker)
    if run:
        runnable = [nb for nb in notebooks if nb.document is not None]
        order = _run_order(runnable, schedule)
        _run_notebooks(checker, order, Path(work_dir) if work_dir else RUNS_DIR / "check" / folders.name, timeout)
    return checker.report


def _check_notebooks(checker: _Checker) -> list[_Notebook]:
    folder = checker.folders.notebooks
    paths = sorted(folder.glob("*.ipynb"))
    checker.check("notebooks are numbered")
    if not paths:
        checker.find(folder, "no notebooks: add the pipelines as numbered notebooks, e.g. 01_feature_backfill.ipynb "
                             "(`fti new NAME` writes a working set)")
    numbers: dict[str, list[str]] = {}
    for path in paths:
        match = _NUMBERED.fullmatch(path.stem)
        if match is None:
            number = re.match(r"\d+", path.stem)
            problem, prefix = ("not named like a pipeline", number.group()) if number else ("not numbered", "NN")
            checker.find(path, f"{problem}: rename it {prefix}_{_snake(path.stem)}.ipynb (two digits, then lower-case "
                               "words joined by _) so the folder lists the pipelines in the order they run")
        else:
            numbers.setdefault(match.group(1), []).append(path.name)
    for number, names in sorted(numbers.items()):
        if len(names) > 1:
            checker.find(folder, f"{' and '.join(names)} share the number {number}: give each pipeline its own number")

    notebooks = []
    for check in ("one cell tagged parameters, typed and commented, with run_date", "a markdown title first",
                  "no sys.path edits", "no package installs", "no functions or classes defined in notebooks"):
        checker.check(check)
    for path in paths:
        notebook = _load(checker, path)
        notebooks.append(notebook)
        if notebook.document is not None:
            _check_one_notebook(checker, notebook)
    return notebooks


def _snake(stem: str) -> str:
    words = re.findall(r"[a-z0-9]+", re.sub(r"^\d+", "", stem.lower()))
    return "_".join(words) or "pipeline"


def _load(checker: _Checker, path: Path) -> _Notebook:
    try:
        document = _read_notebook(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        checker.find(path, f"cannot be read as a notebook ({exc}): save it again from JupyterLab")
        return _Notebook(path, None)
    notebook = _Notebook(path, document)
    number = 0
    for cell in document["cells"]:
        if cell.get("cell_type") == "code":
            number += 1
            notebook.code.append((number, _source(cell)))
    return notebook


def _check_one_notebook(checker: _Checker, notebook: _Notebook) -> None:
    path, document = notebook.path, notebook.document
    assert document is not None
    cells = _parameter_cells(document)
    if not cells:
        checker.find(path, "no cell tagged `parameters`: put the values a run may change (run_date first) in one "
                           "code cell and tag it `parameters` (JupyterLab: property inspector, Add Tag)")
    elif len(cells) > 1:
        checker.find(path, f"{len(cells)} cells are tagged `parameters`: keep one, so papermill injects the run's "
                           "values after it; move the other values into it")
    else:
        _check_parameters(checker, path, _source(cells[0]))

    first = document["cells"][0] if document["cells"] else None
    if first is None or first.get("cell_type") != "markdown" or not _source(first).lstrip().startswith("#"):
        checker.find(path, "does not start with a markdown title: add one at the top that says which pipeline this "
                           "is, what it reads and what it writes")

    for number, source in notebook.code:
        if _SYS_PATH.search(source):
            checker.find(path, f"code cell {number} edits sys.path: remove it; `shared/` is on the path through the "
                               "editable install, so `from systems import NAME` works anywhere")
        if _INSTALL.search(source):
            checker.find(path, f"code cell {number} installs packages: remove it and add the package to "
                               "requirements.in (then `make lock`), so every run uses the same versions")
        tree = _parse(source)
        if tree is None:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                checker.find(path, f"code cell {number} defines the {kind} `{node.name}`: move it to a module of "
                                   f"the system's package (shared/systems/{checker.folders.name}/) and import it, so "
                                   "every pipeline and test uses one definition")


def _check_parameters(checker: _Checker, path: Path, source: str) -> None:
    try:
        parameters = _parse_parameters(source)
    except (SyntaxError, tokenize.TokenError) as exc:
        checker.find(path, f"the cell tagged `parameters` is not valid Python ({exc}): fix it so papermill can "
                           "read its defaults")
        return
    for parameter in parameters:
        if parameter.annotation is None:
            checker.find(path, f"parameter `{parameter.name}` has no type: write `{parameter.name}: TYPE = "
                               f"{parameter.default}  # what it means`")
        if parameter.comment is None:
            checker.find(path, f"parameter `{parameter.name}` has no comment: say what it means and its unit on its "
                               "line, after `#`")
    if RUN_DATE not in {parameter.name for parameter in parameters}:
        checker.find(path, f"the parameters cell does not declare `{RUN_DATE}`: add `{RUN_DATE}: str = \"2026-01-05\""
                           "  # the day of this run` (the scheduler passes it to every notebook)")


def _parse(source: str) -> ast.Module | None:
    """A code cell's syntax tree, IPython magics and shell lines blanked; None if it is not Python."""
    cleaned = "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in source.splitlines())
    try:
        return ast.parse(cleaned)
    except SyntaxError:
        return None


def _calls(notebooks: Iterable[_Notebook], names: set[str]) -> list[tuple[_Notebook, ast.Call]]:
    """Every call of a function or method called one of ``names`` in the notebooks' code cells."""
    found = []
    for notebook in notebooks:
        for _, source in notebook.code:
            tree = _parse(source)
            if tree is None:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    function = node.func
                    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
                    if name in names:
                        found.append((notebook, node))
    return found


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    """The value of a keyword argument, None when it is absent or literally ``None``."""
    for keyword in call.keywords:
        if keyword.arg == name:
            return None if isinstance(keyword.value, ast.Constant) and keyword.value.value is None else keyword.value
    return None


def _check_schedule(checker: _Checker, notebooks: list[_Notebook]) -> Schedule | None:
    """Read ``pipelines.yml``; its own checks (notebooks exist, schedules parse) become findings."""
    from fti.run.schedule import SCHEDULE_FILE, load_schedule

    checker.check("pipelines.yml is valid and names existing notebooks")
    file = checker.folders.notebooks / SCHEDULE_FILE
    if not file.is_file():
        checker.find(file, "missing: add a schedule that says when each notebook runs (like "
                           "notebooks/titanic/pipelines.yml), so `fti run` can operate the system")
        return None
    try:
        schedule = load_schedule(checker.folders.notebooks)
    except ScheduleError as exc:
        message = str(exc).replace(f"{file}: ", "").replace(str(file), SCHEDULE_FILE)
        message = message.replace(f"{checker.folders.notebooks}/", "")
        checker.find(file, f"{message.splitlines()[0]}: fix the file so `fti run` can read it")
        return None
    if not any(notebook.path.stem in {p.name for p in schedule.pipelines} for notebook in notebooks):
        checker.find(file, "schedules none of the notebooks in this folder: list the pipelines with their schedules")
    return schedule


def _check_roles(checker: _Checker, notebooks: list[_Notebook]) -> None:
    folder = checker.folders.notebooks
    readable = [notebook for notebook in notebooks if notebook.document is not None]
    checker.check("a feature, a training and an inference pipeline")
    for role in _ROLES:
        if not any(role in notebook.roles for notebook in readable):
            words = " or ".join(f"'{word}'" for word in _ROLES[role])
            checker.find(folder, f"no {role} pipeline: name the notebook that does it with {words} in its name, "
                                 f"e.g. {_ROLE_EXAMPLES[role]}")

    # Feature and inference pipelines write the rows models learn from and are judged on; logs that
    # training or monitoring keep (promotion decisions, verdicts) may be keyed otherwise.
    checker.check("feature groups of the feature and inference pipelines have an event time")
    writers = [notebook for notebook in readable if notebook.roles & {"feature", "inference"}]
    for notebook, call in _calls(writers, _FEATURE_GROUP_CALLS):
        if _keyword(call, "event_time") is None:
            checker.find(notebook.path, f"line {call.lineno} of a code cell creates a feature group without "
                                        "`event_time=`: name the column that says when each row became true, so "
                                        "joins and splits can respect time")

    checker.check("the training pipeline registers a model with its lineage")
    training = [notebook for notebook in readable if "training" in notebook.roles]
    for notebook in training:
        registered = [call for _, call in _calls([notebook], {"create_model"})]
        if not registered:
            checker.find(notebook.path, "registers no model: end with mr.<framework>.create_model(NAME, metrics=..., "
                                        "feature_view=feature_view) and .save(model)")
        for call in registered:
            if _keyword(call, "feature_view") is None:
                checker.find(notebook.path, "registers a model without its lineage: pass `feature_view=` to "
                                            "create_model, so the registry records the view, the training dataset "
                                            "and the commit it was trained on")

    checker.check("the inference pipeline loads the model by alias")
    inference = [notebook for notebook in readable if "inference" in notebook.roles]
    package_code = _package_calls(checker.folders, "get_model")
    for notebook in inference:
        loads = [call for _, call in _calls([notebook], {"get_model"})]
        by_alias = [call for call in loads + package_code if _keyword(call, "alias") is not None]
        if loads and not by_alias:
            checker.find(notebook.path, "loads the model by version or as the latest: load it by alias, "
                                        "mr.get_model(NAME, alias=\"production\"), so promoting or rolling back a "
                                        "model needs no change here")
        elif not by_alias:
            checker.find(notebook.path, "loads no model by alias: use mr.get_model(NAME, alias=\"production\") (here "
                                        "or in the system's package), so the training pipeline decides which "
                                        "version serves")


def _package_calls(folders: SystemFolders, name: str) -> list[ast.Call]:
    """Calls of ``name`` in the system package's modules (a serving entry point may load the model there)."""
    package = folders.package
    if package is None or not package.is_dir():
        return []
    calls = []
    for module in sorted(package.rglob("*.py")):
        try:
            tree = ast.parse(module.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SyntaxError):
            continue
        calls += [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                  and (getattr(node.func, "attr", None) == name or getattr(node.func, "id", None) == name)]
    return calls


def _check_files(checker: _Checker) -> None:
    from fti.run.story import STORY_FILE, load_story

    folders = checker.folders
    checker.check("a story.yml and a README.md")
    story = folders.notebooks / STORY_FILE
    if not story.is_file():
        checker.find(story, "missing: `make test` runs every notebook folder under nbval by its story; add one that "
                            "lists the notebooks in order with their clocks (like notebooks/titanic/story.yml)")
    else:
        try:
            load_story(folders.notebooks)
        except FTIError as exc:
            message = str(exc).splitlines()[0].replace(f"{story}: ", "").replace(f"{folders.notebooks}/", "")
            checker.find(story, f"{message}: fix it so nbval can execute the notebooks")
    readme = folders.notebooks / "README.md"
    if not readme.is_file():
        checker.find(readme, "missing: say what the system predicts and list its pipelines, what each reads and "
                             "writes and when it runs (like notebooks/titanic/README.md)")
    if folders.root is None:
        return
    checker.check("the system's package and its tests")
    package = folders.package
    assert package is not None and folders.tests is not None
    if not (package / "__init__.py").is_file():
        checker.find(package, f"missing: keep the system's code in a package the notebooks import (`from systems "
                              f"import {folders.name}`), with an __init__.py")
    if not any(folders.tests.glob("test_*.py")):
        checker.find(folders.tests, f"no tests: add test_{folders.name}_system.py that runs the system for a few "
                                    "simulated days on its fixture (`fti new` writes one)")


# -- running each notebook alone -----------------------------------------------------------------


def _run_order(notebooks: list[_Notebook], schedule: Schedule | None) -> list[tuple[_Notebook, float | None]]:
    """The notebooks in the schedule's order (then any it does not list), with their time limits."""
    by_name = {notebook.path.stem: notebook for notebook in notebooks}
    order: list[tuple[_Notebook, float | None]] = []
    if schedule is not None:
        for pipeline in schedule.pipelines:
            if pipeline.name in by_name:
                order.append((by_name.pop(pipeline.name), pipeline.timeout))
    order += [(notebook, None) for notebook in sorted(by_name.values(), key=lambda nb: nb.path.name)]
    return order


def _default_run_date(notebook: Path) -> dt.date | None:
    for parameter in notebook_parameters(notebook):
        if parameter.name == RUN_DATE:
            try:
                return dt.date.fromisoformat(ast.literal_eval(parameter.default))
            except (ValueError, TypeError, SyntaxError):
                return None
    return None


def _run_notebooks(checker: _Checker, order: Sequence[tuple[_Notebook, float | None]], work_dir: Path,
                   timeout: float | None) -> None:
    """Execute each notebook alone, in order, on a fresh scratch store; stop at the first that fails."""
    from fti.clock import NOW_VARIABLE
    from fti.run.execute import ExecutionRequest, execute
    from fti.store.storage import STORE_VARIABLE

    checker.check("each notebook runs alone on the fixture")
    work_dir = Path(work_dir).resolve()
    executed_dir = work_dir / "executed"
    with tempfile.TemporaryDirectory(prefix="fti-check-") as scratch:
        store = Path(scratch) / "store"
        for position, (notebook, limit) in enumerate(order):
            try:
                parameters = offline_parameters(notebook.path, work_dir)
                day = _default_run_date(notebook.path)
            except (ValueError, SyntaxError):
                parameters, day = {}, None  # reported by the static checks; papermill will say the rest
            clock = None
            if day is not None:
                clock = (dt.datetime.combine(day, dt.time(23, 0), tzinfo=dt.UTC) + dt.timedelta(minutes=position))
            request = ExecutionRequest(
                notebook=notebook.path, output=executed_dir / notebook.path.name, parameters=parameters,
                env={STORE_VARIABLE: str(store), NOW_VARIABLE: clock.isoformat() if clock else None},
                timeout=timeout or limit or DEFAULT_TIMEOUT, label=f"check {notebook.path.stem}",
            )
            result = execute(request)
            checker.report.executed.append(result.output)
            if not result.ok:
                rest = [nb.path.name for nb, _ in order[position + 1:]]
                later = f"; not run after it: {', '.join(rest)}" if rest else ""
                checker.find(notebook.path, f"does not run alone on its defaults and the fixture: {result.status}: "
                                            f"{result.error} (executed copy: {checker.shown(result.output)}): fix "
                                            f"it and run `fti check {checker.folders.name}` again{later}")
                return  # what the later notebooks would have written is not there to check
        if (store / "offline.duckdb").exists():
            _check_registered_models(checker, order, store)


def _model_names(notebooks: Iterable[_Notebook]) -> list[str]:
    """The model names given as literals to ``create_model`` in the training notebooks."""
    names = []
    for _, call in _calls([nb for nb in notebooks if "training" in nb.roles], {"create_model"}):
        given = call.args[0] if call.args else _keyword(call, "name")
        if isinstance(given, ast.Constant) and isinstance(given.value, str) and given.value not in names:
            names.append(given.value)
    return names


def _check_registered_models(checker: _Checker, order: Sequence[tuple[_Notebook, float | None]], store: Path) -> None:
    """After the runs: each model version in the scratch store has its lineage, and its feature groups event times."""
    from fti.exceptions import ModelNotFoundError
    from fti.store.feature_store import FeatureStore
    from fti.store.registry import ModelRegistry

    checker.check("the registered model has its lineage, and its feature groups event times")
    registry = ModelRegistry(FeatureStore(store))
    notebooks = [notebook for notebook, _ in order]
    training = next((nb.path for nb in notebooks if "training" in nb.roles), checker.folders.notebooks)
    for name in _model_names(notebooks):
        try:
            versions = registry.get_models(name)
        except ModelNotFoundError:
            versions = []
        if not versions:
            checker.find(training, f"ran, but no version of model {name!r} is in the store: save it "
                                   "(registered.save(model)) after create_model")
        for model in versions:
            view = model.feature_view
            if view is None or model.training_dataset_version is None:
                checker.find(training, f"model {name!r} v{model.version} has no lineage: create it with "
                                       "feature_view= after train_test_split, so the registry records its data")
                continue
            for group in view.query.feature_groups:
                if not group.event_time:
                    checker.find(checker.folders.notebooks,
                                 f"feature group {group.name} v{group.version}, which model {name!r} is trained "
                                 "from, has no event time: create it with event_time= the column that says when "
                                 "each row became true")
