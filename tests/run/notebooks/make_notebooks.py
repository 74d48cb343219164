"""Writes the tiny notebooks the runner tests use: ``python tests/run/notebooks/make_notebooks.py``.

They are committed; this script documents how they were made and remakes them.
Each is a few lines so that a test pays for the kernel start and little else.

mini/ is a three-notebook system with a schedule (``mini/pipelines.yml``):
    01_backfill   once     writes the days before run_date to the feature group ``mini_counts``
    02_features   daily    writes run_date's row; raises if run_date == fail_on
    03_predict    daily    after 02_features: reads the group as of now and prints a summary
and two notebooks its schedule does not list, for the tests of runs on request
(test_on_demand.py writes a schedule that adds them):
    04_monitor    asks for a run of 05_retrain (fti.request_run) when run_date == alarm_on
    05_retrain    prints its run date and clock
The others are for `fti batch` and the executors:
    square        prints x * x for its parameter x
    raises        raises ValueError in its second cell
    forever       writes its kernel's process id to pid_file, then loops forever
    loud          prints `lines` lines of 100 characters (5 MB by default)
"""

from __future__ import annotations

from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def write(path: Path, parameters: str, *cells: str) -> None:
    notebook = nbformat.v4.new_notebook()
    parameter_cell = nbformat.v4.new_code_cell(parameters)
    parameter_cell.metadata["tags"] = ["parameters"]
    notebook.cells = [parameter_cell] + [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = KERNELSPEC
    # Fixed cell ids: regenerating gives the same files.
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
    nbformat.write(notebook, path)


def main() -> None:
    mini = HERE / "mini"
    mini.mkdir(exist_ok=True)
    write(mini / "01_backfill.ipynb", 'run_date: str = "2026-01-05"',
          "import pandas as pd\nimport fti\n"
          "fs = fti.get_feature_store()\n"
          "fg = fs.get_or_create_feature_group('mini_counts', version=1, primary_key=['day'], event_time='ts')\n"
          "days = pd.date_range(end=pd.Timestamp(run_date) - pd.Timedelta(days=1), periods=3, tz='UTC')\n"
          "frame = pd.DataFrame({'day': days.strftime('%Y-%m-%d'), 'ts': days, 'count': [3, 1, 4]})\n"
          "print(fg.insert(frame))")
    write(mini / "02_features.ipynb", 'run_date: str = "2026-01-05"\nfail_on: str = ""',
          "import pandas as pd\nimport fti\n"
          "if run_date == fail_on:\n    raise ValueError(f'no data for {run_date}')\n"
          "fg = fti.get_feature_store().get_feature_group('mini_counts', version=1)\n"
          "day = pd.Timestamp(run_date, tz='UTC')\n"
          "count = sum(map(ord, run_date)) % 10\n"
          "print(fg.insert(pd.DataFrame({'day': [run_date], 'ts': [day], 'count': [count]})))\n"
          "print('clock', fti.now())")
    write(mini / "03_predict.ipynb", 'run_date: str = "2026-01-05"',
          "import fti\n"
          "frame = fti.get_feature_store().get_feature_group('mini_counts', version=1).read(as_of=fti.now())\n"
          "print(run_date, len(frame), 'rows, mean', round(frame['count'].mean(), 3), 'at', fti.now())")
    write(mini / "04_monitor.ipynb", 'run_date: str = "2026-01-05"\nalarm_on: str = ""',
          "import fti\n"
          "if run_date == alarm_on:\n"
          "    fti.request_run('05_retrain', reason=f'alarm on {run_date}')\n"
          "else:\n"
          "    print('all quiet on', run_date)")
    write(mini / "05_retrain.ipynb", 'run_date: str = "2026-01-05"',
          "import fti\nprint('retrained on', run_date, 'at', fti.now())")
    write(HERE / "square.ipynb", "x = 2", "print(x * x)")
    write(HERE / "raises.ipynb", "message = 'broken on purpose'", "raise ValueError(message)", "print('not reached')")
    write(HERE / "forever.ipynb", 'pid_file = ""',
          "import os, pathlib\nif pid_file:\n    pathlib.Path(pid_file).write_text(str(os.getpid()))",
          "while True:\n    pass")
    write(HERE / "loud.ipynb", "lines = 50_000", "for number in range(lines):\n    print(f'{number:>9} ' + 'x' * 90)")


if __name__ == "__main__":
    main()
