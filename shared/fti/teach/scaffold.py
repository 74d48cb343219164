"""``fti new``: a student's own ML system, from the templates in ``shared/templates/``, running at once.

`create_system` writes three folders, the same shape as the example systems:

* ``notebooks/NAME/``: the numbered pipeline notebooks (backfill, feature
  pipeline, training, batch or online inference, monitoring), each with its cell
  tagged ``parameters`` and a markdown skeleton of the questions the pipeline
  must answer, plus ``pipelines.yml`` (when they run), ``story.yml`` (how nbval
  runs them: the notebooks are committed without outputs, so nbval checks that
  they run and compares nothing) and a ``README.md``;
* ``shared/systems/NAME/``: the system's package, with the **source adapter**
  (``source.py``: backfill, incremental pull, recorded fixture), its features
  and its expectation suite (and ``serving.py`` for a real-time system);
* ``tests/systems/NAME/test_NAME_system.py``: checks the shape and simulates a
  few days on the fixture.

The code runs against a tiny built-in example source (daily readings of a few
stations, computed from the date), so ``fti run NAME --days 3`` works the minute
the system exists; the student then replaces the example, pipeline by pipeline.

Templates: ``shared/templates/common/`` holds what every kind shares and
``shared/templates/KIND/`` what a kind adds or replaces, each with the folders
``notebooks/``, ``package/`` and ``tests/`` (``shared/templates/README.md`` has
the placeholders). Nothing is written when the name is invalid or taken, and a
failure half-way removes what was written.
"""

from __future__ import annotations

import importlib
import keyword
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from fti.exceptions import InvalidNameError, ScaffoldError
from fti.paths import REPO_ROOT

__all__ = ["KINDS", "TEMPLATES_DIR", "NewSystem", "check_system_name", "create_system", "placeholders"]

TEMPLATES_DIR = REPO_ROOT / "shared" / "templates"
KINDS: tuple[str, ...] = ("batch", "realtime")
MAX_NAME_LENGTH = 40
# Names that would shadow the kit's own folders or read as something else in a command line.
RESERVED_NAMES = frozenset({"fti", "systems", "templates", "notebooks", "shared", "data", "store", "runs", "tests",
                            "test", "docs", "exercises", "dashboards", "check", "new", "batch", "grades"})
# Where each template folder goes, relative to the project root; "{name}" is the system's name.
TARGETS: dict[str, str] = {
    "notebooks": "notebooks/{name}",
    "package": "shared/systems/{name}",
    "tests": "tests/systems/{name}",
}
_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_IGNORED = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".ruff_cache"}
# The inference notebook of each kind, named in the schedule, the story and the links between notebooks.
_INFERENCE = {"batch": "04_batch_inference", "realtime": "04_online_inference"}


@dataclass(frozen=True)
class NewSystem:
    """What `create_system` wrote.

    Attributes:
        name: The system's name.
        kind: ``"batch"`` or ``"realtime"``.
        root: The project it was written into.
        files: Every file written, relative to ``root``, sorted.
    """

    name: str
    kind: str
    root: Path
    files: tuple[Path, ...]

    @property
    def folders(self) -> dict[str, Path]:
        """The three folders, by template folder: ``notebooks``, ``package``, ``tests``."""
        return {part: self.root / target.format(name=self.name) for part, target in TARGETS.items()}

    def summary(self) -> str:
        """What was written and what to do next, for the command line."""
        count = {part: sum(1 for file in self.files if (self.root / file).is_relative_to(folder))
                 for part, folder in self.folders.items()}
        notebooks, package, tests = (self.folders[part].relative_to(self.root) for part in TARGETS)
        return "\n".join([
            f"created the {self.kind} system {self.name} in {self.root}:",
            f"  {notebooks}/  {count['notebooks']} files: the pipeline notebooks, pipelines.yml, story.yml, README.md",
            f"  {package}/  {count['package']} files: source adapter (source.py) with its recorded fixture, features, "
            "expectations" + (", serving entry point" if self.kind == "realtime" else ""),
            f"  {tests}/  the system's test",
            "next:",
            f"  fti run {self.name} --days 3        operate it for three simulated days",
            f"  fti check {self.name}               check its shape (each notebook runs alone on the fixture)",
            f"  python -m pytest {tests}   its test",
            "  then read docs/own-system.md: replace the example source with yours, pipeline by pipeline",
        ])


def check_system_name(name: object) -> str:
    """Return ``name`` if it can name a new system, else raise.

    A system's name is a Python package name (``systems.NAME``), part of feature
    group and model names and of folder names: lower-case letters, digits and
    single underscores, starting with a letter, at most 40 characters, and
    neither a Python keyword nor one of the kit's own folder names.

    Raises:
        InvalidNameError: The name breaks one of those rules; the message says which.
    """
    if not isinstance(name, str) or not name:
        raise InvalidNameError(f"system name {name!r} is not valid: give a name such as energy_prices")
    if not _NAME.fullmatch(name):
        hint = re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", name.lower())).strip("_")
        suggestion = f" (e.g. {hint!r})" if hint and hint[0].isalpha() and hint != name else ""
        raise InvalidNameError(
            f"system name {name!r} is not valid: use lower-case letters, digits and single underscores, starting "
            f"with a letter{suggestion}; it becomes the package systems.NAME"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(f"system name {name!r} is not valid: at most {MAX_NAME_LENGTH} characters, "
                               f"it has {len(name)} (feature group and model names are built from it)")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in RESERVED_NAMES:
        raise InvalidNameError(f"system name {name!r} is not valid: it is a Python keyword or a folder of the kit; "
                               "choose a name that says what the system predicts")
    return name


def placeholders(name: str, kind: str) -> dict[str, str]:
    """What each placeholder of the templates becomes for this system (see ``shared/templates/README.md``)."""
    return {
        "__system__": name,
        "__System__": name.replace("_", " ").capitalize(),
        "__kind__": "batch" if kind == "batch" else "real-time",
        "__inference__": _INFERENCE[kind],
        "__online__": "True" if kind == "realtime" else "False",
    }


def _render(text: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def _template_files(templates: Path, kind: str) -> dict[Path, Path]:
    """``{target relative to the root (unrendered): template file}``; the kind's files replace common ones."""
    files: dict[Path, Path] = {}
    for layer in ("common", kind):
        for part, target in TARGETS.items():
            folder = templates / layer / part
            if not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*")):
                relative = path.relative_to(folder)
                if path.is_file() and not _IGNORED & set(relative.parts) and path.suffix != ".pyc":
                    files[Path(target) / relative] = path
    return files


def create_system(name: str, kind: str = "batch", root: Path = REPO_ROOT,
                  templates: Path = TEMPLATES_DIR) -> NewSystem:
    """Write a new, working system ``name`` of ``kind`` into the project at ``root``.

    Args:
        name: The system's name (see `check_system_name`).
        kind: ``"batch"`` (batch inference and a dashboard) or ``"realtime"``
            (online inference from the online store, and a serving entry point).
        root: The project: a checkout of the kit (it needs ``shared/systems/__init__.py``).
        templates: The template folders.

    Returns:
        What was written.

    Raises:
        InvalidNameError: The name is not valid.
        ScaffoldError: An unknown kind, ``root`` is not a checkout of the kit, or one of
            the three folders exists already. Nothing is written then.
    """
    name = check_system_name(name)
    if kind not in KINDS:
        raise ScaffoldError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    root = Path(root).expanduser().resolve()
    if not (root / "shared" / "systems" / "__init__.py").is_file():
        raise ScaffoldError(f"{root} is not a checkout of the kit: it has no shared/systems/__init__.py, where the "
                            "system's package goes; give the project's root folder")
    values = placeholders(name, kind)
    targets = {part: root / target.format(name=name) for part, target in TARGETS.items()}
    taken = [path for path in targets.values() if path.exists()]
    if taken:
        shown = ", ".join(str(path.relative_to(root)) for path in taken)
        raise ScaffoldError(f"a system called {name!r} exists already ({shown}); nothing was written: choose "
                            "another name, or remove those folders first")
    # Everything is rendered in memory first, so a broken template fails before a file is written.
    rendered = {Path(_render(str(target), values).replace("{name}", name)): _render(path.read_text("utf-8"), values)
                for target, path in _template_files(Path(templates), kind).items()}
    if not rendered:
        raise ScaffoldError(f"no templates in {templates}/common or {templates}/{kind}")
    _write_all(root, targets, rendered)
    # A process that already imported `systems` may have listed its folder before this one existed.
    importlib.invalidate_caches()
    return NewSystem(name=name, kind=kind, root=root, files=tuple(sorted(rendered)))


def _write_all(root: Path, targets: dict[str, Path], rendered: dict[Path, str]) -> None:
    """Write each folder next to its target, then move the three into place; all of them or none."""
    placed: list[Path] = []
    staging: list[Path] = []
    try:
        for target in targets.values():
            target.parent.mkdir(parents=True, exist_ok=True)
            # A hidden sibling, created with the usual permissions (mkdtemp would make it private).
            stage = target.with_name(f".{target.name}.fti-new-{uuid.uuid4().hex[:8]}")
            stage.mkdir()
            staging.append(stage)
            prefix = target.relative_to(root)
            for relative, text in rendered.items():
                if relative.is_relative_to(prefix):
                    file = stage / relative.relative_to(prefix)
                    file.parent.mkdir(parents=True, exist_ok=True)
                    file.write_text(text, encoding="utf-8")
        for stage, target in zip(staging, targets.values(), strict=True):
            stage.rename(target)
            placed.append(target)
    except BaseException:
        for path in placed:
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        for stage in staging:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
