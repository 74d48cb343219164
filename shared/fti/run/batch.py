"""Batches of notebook executions: many notebooks, or one notebook over a grid of parameter values.

`plan_batch` turns notebooks, fixed parameters and a grid into execution
requests; `run_batch` hands them to an executor (several at once), and writes a
report as ``report.csv`` and ``report.html`` next to the executed notebooks.

Each execution gets a fresh, empty store of its own (``FTI_STORE`` pointing at a
temporary folder, deleted afterwards) so executions running side by side do not
see or lock each other's data, unless a shared store is given.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import itertools
import json
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fti.exceptions import BatchError
from fti.paths import EXERCISE_STORES_VARIABLE, RUNS_DIR
from fti.run.execute import ExecutionRequest, ExecutionResult
from fti.run.executors import Executor
from fti.store.storage import STORE_VARIABLE

__all__ = [
    "BATCH_DIR", "BatchError", "BatchReport", "DEFAULT_TIMEOUT", "find_notebooks", "grid_points", "parse_assignment",
    "parse_assignments", "parse_value", "plan_batch", "run_batch", "write_csv", "write_html",
]

DEFAULT_TIMEOUT = 600.0
BATCH_DIR = RUNS_DIR / "batch"
# Marks requests whose store the batch creates (and deletes) itself.
_TEMPORARY_STORE = "<temporary>"


def find_notebooks(paths: Iterable[str | Path]) -> list[Path]:
    """The notebooks named by ``paths``: files as given, folders searched recursively (sorted).

    Raises:
        BatchError: A path does not exist, is not a notebook, or a folder holds none.
    """
    notebooks: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            # Jupyter's checkpoints, and executed copies under runs/ when searching from above it,
            # are outputs, not notebooks to run.
            skip_runs = not path.resolve().is_relative_to(RUNS_DIR)
            found = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
                           and not (skip_runs and p.resolve().is_relative_to(RUNS_DIR)))
            if not found:
                raise BatchError(f"{path}: no notebooks (.ipynb) in this folder")
            notebooks += found
        elif path.is_file() and path.suffix == ".ipynb":
            notebooks.append(path)
        elif path.is_file():
            raise BatchError(f"{path}: not a notebook (expected a .ipynb file)")
        else:
            raise BatchError(f"{path}: no such notebook or folder")
    if not notebooks:
        raise BatchError("no notebooks given")
    return [p.resolve() for p in notebooks]


def parse_value(text: str) -> Any:
    """A parameter value as YAML reads it: ``3`` is an int, ``0.5`` a float, ``true`` a bool, else text."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError):  # ValueError: a date-like value such as 2026-13-01
        return text
    # Dates stay text: papermill injects them as strings, which is what notebooks expect.
    return text if value is None or isinstance(value, (dt.date, dict)) else value


def parse_assignment(text: str, many: bool) -> tuple[str, Any]:
    """``name=value`` (or ``name=v1,v2,v3`` when ``many``) from the command line.

    Raises:
        BatchError: No ``=``, or a name that is not a Python identifier.
    """
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        example = "alpha=0.1,1,10" if many else "alpha=0.1"
        raise BatchError(f"{text!r}: expected NAME=VALUE{'S' if many else ''}, e.g. {example}")
    if many:
        values = [parse_value(part.strip()) for part in value.split(",")]
        if any(part == "" for part in values):
            raise BatchError(f"{text!r}: an empty value in the list")
        return name, values
    return name, parse_value(value.strip())


def parse_assignments(texts: Iterable[str], many: bool) -> dict[str, Any]:
    """Several ``name=value`` (or ``name=v1,v2``) assignments, as a mapping.

    Raises:
        BatchError: A malformed assignment (see `parse_assignment`), or one name given twice.
    """
    assigned: dict[str, Any] = {}
    for text in texts:
        name, value = parse_assignment(text, many)
        if name in assigned:
            option = "--grid" if many else "--param"
            raise BatchError(f"{text!r}: {name} is given twice with {option}; give each name once")
        assigned[name] = value
    return assigned


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values (the first name varies slowest); ``[{}]`` for no grid."""
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(grid[name] for name in names))]


def _slug(parameters: Mapping[str, Any]) -> str:
    text = "_".join(f"{name}-{value}" for name, value in parameters.items())
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")
    return text[:80]


def plan_batch(notebooks: Sequence[Path], out_dir: Path, *, parameters: Mapping[str, Any] | None = None,
               grid: Mapping[str, Sequence[Any]] | None = None, timeout: float | None = DEFAULT_TIMEOUT,
               store: str | Path | None = None, cwd: str | Path | None = None,
               env: Mapping[str, str | None] | None = None) -> list[ExecutionRequest]:
    """One request per notebook and grid point.

    Args:
        notebooks: The notebooks.
        out_dir: Where executed notebooks go, as ``NNN_<notebook>[_<grid point>].ipynb``.
        parameters: Given to every execution.
        grid: Name to values; every combination is one execution per notebook.
        timeout: Seconds each execution may take.
        store: A store shared by all executions; default: a fresh temporary one each.
        cwd: Working directory of every execution; default: each notebook's folder.
        env: More environment variables for the kernels.
    """
    points = grid_points(grid or {})
    requests = []
    for index, (notebook, point) in enumerate(itertools.product(notebooks, points), start=1):
        slug = _slug(point)
        name = f"{index:03d}_{notebook.stem}" + (f"_{slug}" if slug else "")
        label = notebook.stem + (f" {json.dumps(point, default=str)}" if point else "")
        store_value = str(Path(store).expanduser().resolve()) if store is not None else _TEMPORARY_STORE
        requests.append(ExecutionRequest(
            notebook=notebook, output=Path(out_dir) / f"{name}.ipynb",
            parameters={**(parameters or {}), **point}, env={**(env or {}), STORE_VARIABLE: store_value},
            cwd=Path(cwd) if cwd is not None else None, timeout=timeout, label=label,
        ))
    return requests


@dataclass
class BatchReport:
    """The results of a batch, in request order, and where the report files are."""

    out_dir: Path
    results: list[ExecutionResult] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def csv_path(self) -> Path:
        return self.out_dir / "report.csv"

    @property
    def html_path(self) -> Path:
        return self.out_dir / "report.html"

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.status] = counts.get(result.status, 0) + 1
        return counts


def run_batch(requests: Sequence[ExecutionRequest], executor: Executor, out_dir: str | Path,
              progress: bool | None = None) -> BatchReport:
    """Execute the requests and write ``report.csv`` and ``report.html`` in ``out_dir``.

    The report is written even if the batch is interrupted (with what finished).

    Args:
        requests: From `plan_batch`.
        executor: Runs the executions (e.g. `fti.run.executors.LocalExecutor`).
        out_dir: Where the report goes (the executed notebooks are already addressed there).
        progress: Show a progress bar: True, False, or None for "when stderr is a terminal".
    """
    import time

    from tqdm import tqdm

    report = BatchReport(out_dir=Path(out_dir).expanduser().resolve())
    report.out_dir.mkdir(parents=True, exist_ok=True)
    prepared = [_with_store(request) for request in requests]
    # Results may be copies made in another process: requests are told apart by output path.
    order = {request.output: index for index, request in enumerate(prepared)}
    if len(order) != len(prepared):
        raise BatchError("two executions would write the same output notebook")
    started = time.monotonic()
    bar = tqdm(total=len(prepared), desc="notebooks", unit="nb", disable=None if progress is None else not progress)
    finished: list[ExecutionResult] = []
    results = executor.map_unordered(prepared)
    try:
        for result in results:
            _remove_temporary_store(result.request)
            finished.append(result)
            bar.update(1)
            counts = {status: sum(1 for r in finished if r.status == status) for status in {r.status for r in finished}}
            bar.set_postfix(counts)
    finally:
        # Stops executions still running if the loop ended early (Ctrl-C), before their stores go.
        close = getattr(results, "close", None)
        if close is not None:
            close()
        bar.close()
        for request in prepared:
            _remove_temporary_store(request)
        report.results = sorted(finished, key=lambda result: order[result.request.output])
        report.wall_seconds = time.monotonic() - started
        write_csv(report)
        write_html(report)
    return report


def _with_store(request: ExecutionRequest) -> ExecutionRequest:
    if request.env.get(STORE_VARIABLE) != _TEMPORARY_STORE:
        return request
    folder = tempfile.mkdtemp(prefix="fti-batch-store-")
    # An exercise points its kernel at a store of its own; keep that inside this folder too.
    exercise_stores = str(Path(folder) / "exercise-stores")
    return replace(request, env={**request.env, STORE_VARIABLE: folder, EXERCISE_STORES_VARIABLE: exercise_stores})


def _remove_temporary_store(request: ExecutionRequest) -> None:
    folder = request.env.get(STORE_VARIABLE)
    if not folder:
        return
    path = Path(folder)
    # Only a folder this batch made: a shared store given with --store is never removed.
    if path.name.startswith("fti-batch-store-") and path.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(path, ignore_errors=True)


_CSV_COLUMNS = ["index", "label", "notebook", "parameters", "status", "duration_s", "started_at", "error", "output"]


def _rows(report: BatchReport) -> list[dict[str, Any]]:
    rows = []
    for index, result in enumerate(report.results, start=1):
        output = result.output
        relative = output.relative_to(report.out_dir) if output.is_relative_to(report.out_dir) else output
        rows.append({
            "index": index,
            "label": result.request.label,
            "notebook": str(result.request.notebook),
            "parameters": json.dumps(dict(result.request.parameters), sort_keys=True, default=str),
            "status": result.status,
            "duration_s": round(result.duration, 3),
            "started_at": result.started_at.isoformat(timespec="seconds"),
            "error": result.error or "",
            "output": str(relative) if output.exists() else "",
        })
    return rows


def write_csv(report: BatchReport) -> Path:
    """Write ``report.csv``: one row per execution."""
    with report.csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=_CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(_rows(report))
    return report.csv_path


_STATUS_COLOURS = {"ok": "#d7f5dd", "failed": "#fbd9d9", "timeout": "#fdebc8"}


def write_html(report: BatchReport) -> Path:
    """Write ``report.html``: counts, then one row per execution with a link to the executed notebook."""
    counts = ", ".join(f"{count} {status}" for status, count in sorted(report.counts().items())) or "nothing ran"
    rows = []
    for row in _rows(report):
        colour = _STATUS_COLOURS.get(row["status"], "#eeeeee")
        link = (f'<a href="{html.escape(row["output"])}">{html.escape(Path(row["output"]).name)}</a>'
                if row["output"] else "")
        rows.append(
            f'<tr style="background:{colour}"><td>{row["index"]}</td><td>{html.escape(row["label"])}</td>'
            f'<td><code>{html.escape(row["parameters"])}</code></td><td><b>{row["status"]}</b></td>'
            f'<td style="text-align:right">{row["duration_s"]:.1f} s</td>'
            f'<td><pre style="white-space:pre-wrap;margin:0">{html.escape(row["error"])}</pre></td><td>{link}</td></tr>'
        )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>fti batch: {html.escape(report.out_dir.name)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}} th{{background:#f4f4f4}}</style></head>
<body><h1>Batch {html.escape(report.out_dir.name)}</h1>
<p>{len(report.results)} execution(s): {html.escape(counts)}; {report.wall_seconds:.1f} s in all.</p>
<table><tr><th>#</th><th>notebook</th><th>parameters</th><th>status</th><th>duration</th><th>error</th>
<th>executed notebook</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    report.html_path.write_text(page, encoding="utf-8")
    return report.html_path
