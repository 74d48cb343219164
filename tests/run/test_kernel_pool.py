"""The kernel pool: warm kernels that are still new processes with exactly their request's environment.

The tests that start kernels or the fork server are marked slow (``pytest -m "not slow"`` leaves them out).
One pool serves the tests of this module, as one serves a whole `fti run`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from notebook_files import write_notebook

from fti.exceptions import ExecutionRequestError
from fti.run.execute import ExecutionRequest, execute
from fti.run.kernel_pool import DEFAULT_PRELOAD, POOL_VARIABLE, KernelPool, pool_wanted, supported

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
needs_fork = pytest.mark.skipif(not supported(), reason="the kernel pool needs os.fork")


def last_output(result) -> str:
    return nbformat.read(result.output, as_version=4).cells[-1].outputs[0].text


# Everything a notebook could tell apart between two kernels, printed as JSON.
INTROSPECT = """
import json, os, sys
print(json.dumps({
    'pid': os.getpid(), 'cwd': os.getcwd(), 'env': dict(os.environ), 'argv': sys.argv,
    'path': sys.path, 'names': sorted(name for name in globals() if not name.startswith('_i')),
    'count': get_ipython().execution_count, 'history': len(In),
    'main': getattr(sys.modules['__main__'], '__name__', None), 'stdin': sys.stdin.isatty(),
    # The backend as matplotlib read it when imported (without resolving it).
    'mpl': dict.__getitem__(__import__('matplotlib').rcParams, 'backend'),
}))
"""


@pytest.fixture(scope="module")
def pool():
    if not supported():
        pytest.skip("the kernel pool needs os.fork")
    with KernelPool() as started:
        assert started.wait_ready(), started.failed
        yield started


def test_the_variable_turns_the_pool_on_and_off(monkeypatch):
    monkeypatch.setenv(POOL_VARIABLE, "0")
    assert pool_wanted() is False
    monkeypatch.setenv(POOL_VARIABLE, "off")
    assert pool_wanted() is False
    # An explicit choice wins over the variable.
    assert pool_wanted(False) is False
    monkeypatch.delenv(POOL_VARIABLE)
    assert pool_wanted() is (sys.platform.startswith("linux") and supported())
    monkeypatch.setenv(POOL_VARIABLE, "perhaps")
    with pytest.raises(ExecutionRequestError, match="FTI_KERNEL_POOL='perhaps': expected 1"):
        pool_wanted()


# Imports the modules given as arguments, recording each variable read through os.environ
# except while a module goes through all of them (urllib looks for *_proxy, tqdm for TQDM_*).
RECORD_READS = """
import importlib, json, os, sys
read = set()
original = os._Environ.__getitem__
def recording(self, key):
    caller = sys._getframe(1).f_code
    if not (caller.co_name == '__iter__' and 'collections_abc' in caller.co_filename):
        read.add(key.decode() if isinstance(key, bytes) else key)
    return original(self, key)
os._Environ.__getitem__ = recording
loaded = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
        loaded.append(name)
    except ImportError:
        pass  # the pool leaves a missing module out too
print(json.dumps({'read': sorted(read), 'loaded': loaded}))
"""


@pytest.mark.slow
def test_the_preloaded_modules_read_no_fti_variable_when_imported():
    """What the server imports once must not keep a value of FTI_STORE, FTI_NOW ... from import time."""
    env = {**os.environ, "FTI_STORE": "/nonexistent/store", "FTI_NOW": "2026-01-05T23:00:00+00:00"}
    done = subprocess.run([sys.executable, "-c", RECORD_READS, *DEFAULT_PRELOAD], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert "fti" in seen["loaded"] and "PATH" in seen["read"], "the recording works (some module reads PATH)"
    assert [name for name in seen["read"] if name.startswith("FTI_")] == []


def test_the_recording_sees_a_variable_read_when_a_module_is_imported(tmp_path):
    """The check above can fail: a module that keeps FTI_STORE when imported is caught."""
    (tmp_path / "keeps_store.py").write_text("import os\nSTORE = os.environ.get('FTI_STORE')\n")
    env = {**os.environ, "FTI_STORE": "/nonexistent/store", "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", RECORD_READS, "keeps_store"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "FTI_STORE" in json.loads(done.stdout.strip().splitlines()[-1])["read"]


@pytest.mark.slow
@needs_fork
def test_a_pooled_kernel_is_new_and_sees_exactly_what_a_directly_started_one_sees(tmp_path, pool, monkeypatch):
    monkeypatch.setenv("FTI_TEST_INHERITED", "from the parent")
    monkeypatch.setenv("FTI_TEST_REMOVED", "must not reach the kernel")
    notebook = write_notebook(tmp_path / "introspect.ipynb", "x = 1", INTROSPECT)
    work = tmp_path / "work"
    work.mkdir()
    env = {"FTI_TEST_REMOVED": None, "FTI_NOW": "2026-01-05T23:00:00+00:00", "FTI_STORE": str(tmp_path / "s")}
    environment_before, folder_before = dict(os.environ), os.getcwd()
    seen = {}
    for kind, kernel_pool in (("direct", None), ("pooled", pool), ("pooled again", pool)):
        pooled_before = pool.stats["pooled"]
        result = execute(ExecutionRequest(notebook, tmp_path / f"{kind}.ipynb", env=env, cwd=work, timeout=120),
                         kernel_pool=kernel_pool)
        assert result.ok, (result.error, result.traceback)
        assert pool.stats["pooled"] == pooled_before + (kernel_pool is not None), pool.stats
        seen[kind] = json.loads(last_output(result))

    direct, pooled, again = seen["direct"], seen["pooled"], seen["pooled again"]
    assert pooled["env"]["FTI_NOW"] == "2026-01-05T23:00:00+00:00" and "FTI_TEST_REMOVED" not in pooled["env"]
    assert pooled["cwd"] == str(work)
    assert len({direct["pid"], pooled["pid"], again["pid"]}) == 3, "a new process for every notebook"
    # The variables the preloaded modules set when imported (scikit-learn's KMP_*) are there
    # too, as in a direct kernel once the notebook imports those modules; nothing else differs.
    assert set(pooled["env"]) - set(direct["env"]) <= set(pool.environment_changes), pool.environment_changes
    for name in set(direct["env"]) | set(pooled["env"]) - set(pool.environment_changes):
        assert pooled["env"].get(name) == direct["env"].get(name) == again["env"].get(name), name
    for key in ("cwd", "path", "names", "count", "history", "main", "stdin", "mpl"):
        assert pooled[key] == direct[key], key
        assert again[key] == direct[key], key
    # The same launcher and arguments, but each kernel its own connection file.
    for kernel in (pooled, again):
        assert [kernel["argv"][index] for index in (0, 1, 3)] == [direct["argv"][index] for index in (0, 1, 3)]
        assert kernel["argv"][2] != direct["argv"][2] and len(kernel["argv"]) == len(direct["argv"])
    assert dict(os.environ) == environment_before and os.getcwd() == folder_before
    # The kernels ended with their notebooks.
    for kind in seen:
        with pytest.raises(ProcessLookupError):
            os.kill(seen[kind]["pid"], 0)


@pytest.mark.slow
@needs_fork
def test_failures_time_limits_dead_kernels_and_output_caps_work_as_without_the_pool(tmp_path, pool):
    pid_file = tmp_path / "forever.pid"
    exits = write_notebook(tmp_path / "exits.ipynb", "code = 3", "import os\nos._exit(code)")
    pooled_before = pool.stats["pooled"]

    failed = execute(ExecutionRequest(NOTEBOOKS / "raises.ipynb", tmp_path / "raises.ipynb", timeout=120),
                     kernel_pool=pool)
    stuck = execute(ExecutionRequest(NOTEBOOKS / "forever.ipynb", tmp_path / "forever.ipynb", timeout=4,
                                     parameters={"pid_file": str(pid_file)}), kernel_pool=pool)
    died = execute(ExecutionRequest(exits, tmp_path / "exits-out.ipynb", timeout=120), kernel_pool=pool)
    loud = execute(ExecutionRequest(NOTEBOOKS / "loud.ipynb", tmp_path / "loud.ipynb", timeout=120,
                                    max_output_bytes=1_000_000), kernel_pool=pool)

    assert pool.stats["pooled"] == pooled_before + 4, pool.stats
    assert failed.status == "failed" and failed.error.startswith("cell [2] ValueError: broken on purpose")
    assert "ValueError" in failed.traceback and failed.failed_cell == 2
    assert stuck.status == "timeout" and "stopped after 4 s" in stuck.error
    assert 4 <= stuck.duration < 60  # stopped, not left running (the bound only rules out "forever")
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)
    assert died.status == "failed" and "the kernel died" in died.error
    assert loud.ok
    text = "".join(output.get("text", "") for output in nbformat.read(loud.output, as_version=4).cells[-1].outputs)
    assert "more output was dropped" in text and len(text) < 1_100_000


@pytest.mark.slow
@needs_fork
def test_a_request_changing_other_variables_gets_a_directly_started_kernel(tmp_path, pool):
    notebook = write_notebook(tmp_path / "var.ipynb", "x = 1", "import os\nprint(os.environ['OTHER_VARIABLE'])")
    before = dict(pool.stats)
    result = execute(ExecutionRequest(notebook, tmp_path / "out.ipynb", env={"OTHER_VARIABLE": "direct"},
                                      timeout=120), kernel_pool=pool)
    assert result.ok and last_output(result).strip() == "direct"
    assert pool.stats["pooled"] == before.get("pooled", 0)
    assert pool.stats["direct: request changes variables other than FTI_*"] == before.get(
        "direct: request changes variables other than FTI_*", 0) + 1


# ---- No process outlives the pool: real processes, stopped every way a run can stop. ----

SCRIPT = """
import sys
from pathlib import Path
from fti.run.execute import ExecutionRequest
from fti.run.executors import InProcessExecutor

how, notebooks, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
square = ExecutionRequest(notebooks / "square.ipynb", out / "square.ipynb", parameters={"x": 3}, timeout=120)
forever = ExecutionRequest(notebooks / "forever.ipynb", out / "forever.ipynb", timeout=600,
                           parameters={"pid_file": str(out / "forever.pid")})
if how == "unclosed":
    executor = InProcessExecutor(kernel_pool=True)
    assert executor.run_one(square).ok
    print("done", flush=True)
    sys.exit(0)
with InProcessExecutor(kernel_pool=True) as executor:
    assert executor.run_one(square).ok
    if how == "exception":
        raise RuntimeError("a bug in the caller")
    executor.run_one(forever)
"""


def processes_with(marker: str) -> list[str]:
    """Processes whose environment holds ``marker`` (forked ones keep their server's), with their command lines."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append(f"{entry.name}: {command}")
        except OSError:
            continue
    return found


def wait_until_gone(marker: str, seconds: float = 20.0) -> list[str]:
    """Processes with ``marker`` still there after ``seconds`` (a bound to rule out "never", not a timing check)."""
    limit = time.monotonic() + seconds
    while (left := processes_with(marker)) and time.monotonic() < limit:
        time.sleep(0.2)
    return left


@pytest.mark.slow
@needs_fork
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="looks for processes in /proc")
@pytest.mark.parametrize("how", ["closed", "unclosed", "exception", "ctrl-c", "killed"])
def test_no_process_outlives_the_pool(tmp_path, how):
    marker = f"FTI_POOL_TEST_{uuid.uuid4().hex}"
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    # Not an FTI_ variable: those are left out of the fork server's environment.
    env = {**os.environ, "POOL_TEST_MARKER": marker}
    command = [sys.executable, str(script), "forever" if how in ("ctrl-c", "killed", "closed") else how,
               str(NOTEBOOKS), str(tmp_path)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if how in ("ctrl-c", "killed", "closed"):
            pid_file = tmp_path / "forever.pid"
            limit = time.monotonic() + 300
            while not pid_file.exists() and process.poll() is None and time.monotonic() < limit:
                time.sleep(0.1)
            assert pid_file.exists(), process.communicate()[1].decode()[-3000:]
            kernel = int(pid_file.read_text())
            assert len(processes_with(marker)) >= 3, "the script, the fork server, the kernel (and a spare)"
            if how == "ctrl-c":
                process.send_signal(signal.SIGINT)
            elif how == "killed":
                process.kill()
            else:
                os.kill(kernel, signal.SIGKILL)  # the notebook's kernel dies; the script ends normally
        process.wait(timeout=120)
        left = wait_until_gone(marker)
    finally:
        if process.poll() is None:
            process.kill()
    assert left == [], f"left running after the script ended ({how}): {left}"
    if how == "exception":
        assert b"a bug in the caller" in process.stderr.read()
