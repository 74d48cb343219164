"""Model deployments, in-process: Hopsworks' ``ModelServing`` and ``Deployment`` without a cluster.

A lab written for Hopsworks deploys a registered model with a *predictor script*:
a Python file defining a class ``Predict`` (``Predictor`` in newer docs) whose
``__init__`` loads the model from the folder named by ``os.environ["MODEL_FILES_PATH"]``
and whose ``predict(self, inputs)`` answers. Here the script runs in the calling
process: `Deployment.start` imports it and builds the class (with the model's files
folder in ``MODEL_FILES_PATH``), and `Deployment.predict` calls it with the request
after a JSON round trip, so it sees what it would see behind HTTP.

A deployment is a folder ``<store>/deployments/<name>/`` holding ``deployment.json``
(model, version, state) and a copy of the script taken when it was created, so
``project.get_model_serving().get_deployment(name)`` finds it from any process,
and editing the original script afterwards changes nothing (as in Hopsworks, where
the script is uploaded). Each process that predicts loads the script once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import importlib.util
import inspect
import json
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fti.exceptions import (
    DeploymentError,
    DeploymentNotFoundError,
    DeploymentNotRunningError,
    ParameterTypeError,
    PredictionError,
    PredictorScriptError,
)
from fti.store import arguments

DEPLOYMENTS_DIR = "deployments"
# The project's file area (fti.project.datasets.DATASETS_DIR, a layer above): uploaded scripts are there.
DATASETS_DIR = "datasets"
_PROJECT_PATH = re.compile(r"(?:hdfs://)?/Projects/[^/]+/(.+)")
SPEC_FILE = "deployment.json"
# Hopsworks' rule for deployment names: letters and digits only (they become host names).
_NAME = re.compile(r"[A-Za-z0-9]{1,63}")
STATUS_CREATED, STATUS_RUNNING, STATUS_STOPPED = "Created", "Running", "Stopped"
# Arguments Hopsworks takes that change nothing here: where and how a server would run.
NO_OP_OPTIONS = frozenset({
    "artifact_version", "serving_tool", "model_server", "resources", "inference_logger",
    "inference_batcher", "scaling_configuration", "api_protocol", "environment",
    "vllm_variant", "vllm_image_tag", "await_update", "await_running", "await_stopped",
})

# One loaded predictor (and its environment) per deployment and revision per process, shared by every handle.
_LOADED: dict[tuple[str, str, str], tuple[Any, dict[str, str]]] = {}
_LOCK = threading.RLock()  # os.environ and sys.path are process-wide while a script runs


def check_deployment_name(name: Any) -> str:
    """Return ``name`` if it is a valid deployment name (letters and digits, as Hopsworks requires).

    Raises:
        DeploymentError: It is not.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DeploymentError(
            f"deployment name {name!r} is not valid: Hopsworks allows only letters and digits (at most 63), "
            f"e.g. {re.sub(r'[^A-Za-z0-9]', '', str(name))[:63] or 'mymodel'!r}"
        )
    return name


def default_deployment_name(model_name: str) -> str:
    """The name Hopsworks gives a deployment of ``model_name``: its letters and digits."""
    return re.sub(r"[^A-Za-z0-9]", "", model_name)[:63]


@dataclasses.dataclass(frozen=True)
class PredictorState:
    """What `Deployment.get_state` returns (hsml's ``PredictorState``, reduced to what applies here).

    Attributes:
        status: ``"Created"``, ``"Running"`` or ``"Stopped"``.
        available_predictor_instances: 1 while running, else 0.
    """

    status: str
    available_predictor_instances: int

    def describe(self) -> None:
        """Print the state as JSON."""
        print(json.dumps(dataclasses.asdict(self), indent=2))


class Predictor:
    """A deployment not created yet (hsml's ``Predictor``): `ModelServing.create_predictor` makes one.

    Attributes:
        name: The deployment's name.
        script_file: The predictor script to copy into the deployment.
    """

    def __init__(self, serving: ModelServing, model: Any, name: str | None, script_file: str | None,
                 config_file: str | None, description: str | None, env_vars: dict[str, str] | None):
        self._serving = serving
        self.model = model
        self.name = name if name is not None else default_deployment_name(model.name)
        self.script_file = script_file
        self.config_file = config_file
        self.description = description
        self.env_vars = env_vars

    @property
    def model_name(self) -> str:
        return str(self.model.name)

    @property
    def model_version(self) -> int:
        return int(self.model.version)

    def deploy(self) -> Deployment:
        """Create the deployment (stopped: call ``start()``) and return it."""
        deployment = Deployment(self._serving, predictor=self)
        deployment.save()
        return deployment

    def __repr__(self) -> str:
        return f"Predictor(name={self.name!r}, model={self.model_name!r} v{self.model.version})"


class ModelServing:
    """The deployments of a store (hsml's ``ModelServing``): ``project.get_model_serving()``.

    Args:
        registry: The store's `fti.store.registry.ModelRegistry`; deployments serve its models.
        project: What a predictor whose ``__init__`` takes ``project`` receives.
        resolve_path: Maps a path a lab passes as ``script_file`` (e.g. a Hopsworks
            ``/Projects/<p>/Resources/x.py`` upload) to a local file; None uses it as is.
    """

    def __init__(self, registry: Any, project: Any = None,
                 resolve_path: Callable[[str], str | os.PathLike[str] | None] | None = None):
        self._registry = registry
        self._project = project
        self._resolve_path = resolve_path
        self._root = Path(registry._fs.path) / DEPLOYMENTS_DIR

    def __repr__(self) -> str:
        return f"ModelServing({str(self._root.parent)!r})"

    @property
    def _hopsworks(self) -> bool:
        """Whether the store was opened through ``fti.login()`` (Hopsworks semantics)."""
        return bool(getattr(getattr(self._registry._fs, "_engine", None), "hopsworks", False))

    @property
    def project_name(self) -> str:
        return self._root.parent.name

    # ------------------------------------------------------------------ reading

    def _folder(self, name: str) -> Path:
        return self._root / name

    def _read_spec(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads((self._folder(name) / SPEC_FILE).read_text())
        except FileNotFoundError:
            return None

    def _names(self) -> list[str]:
        if not self._root.is_dir():
            return []
        return sorted(p.name for p in self._root.iterdir()
                      if not p.name.startswith(".") and (p / SPEC_FILE).is_file())

    def get_deployment(self, name: str | None = None) -> Deployment | None:
        """The deployment called ``name`` (default: ``$DEPLOYMENT_NAME``, as inside a Hopsworks predictor).

        Returns:
            The deployment. For a name that does not exist, Hopsworks returns None, and so
            does a store opened with ``fti.login()``; otherwise that raises.

        Raises:
            DeploymentNotFoundError: No such deployment (store not opened with ``fti.login()``).
            DeploymentError: The name is not valid.
        """
        if name is None and "DEPLOYMENT_NAME" in os.environ:
            name = os.environ["DEPLOYMENT_NAME"]
        check_deployment_name(name)
        spec = self._read_spec(name)
        if spec is None:
            if self._hopsworks:
                return None
            known = ", ".join(self._names()) or "none yet"
            raise DeploymentNotFoundError(
                f"there is no deployment '{name}' in the store at {self._root.parent} (deployments: {known}); "
                "create one with model.deploy(name=..., script_file=...)"
            )
        return Deployment(self, spec=spec)

    def get_deployment_by_id(self, id: int) -> Deployment | None:  # noqa: A002 - hsml's name
        """The deployment with this id, or None."""
        for name in self._names():
            spec = self._read_spec(name)
            if spec is not None and spec.get("id") == id:
                return Deployment(self, spec=spec)
        return None

    def get_deployments(self, model: Any = None, status: str | None = None) -> list[Deployment]:
        """Every deployment, by name; only those of ``model`` (its name) or in ``status`` if given.

        Raises:
            ParameterError: ``status`` is not Created, Running or Stopped.
        """
        wanted = None
        if status is not None:
            wanted = arguments.text(status, "status", "get_deployments").capitalize()
            if wanted not in (STATUS_CREATED, STATUS_RUNNING, STATUS_STOPPED):
                raise DeploymentError(f"get_deployments: status must be Created, Running or Stopped, got {status!r}")
        found = []
        for name in self._names():
            spec = self._read_spec(name)
            if spec is None:
                continue
            if model is not None and spec["model_name"] != model.name:
                continue
            if wanted is not None and spec["status"] != wanted:
                continue
            found.append(Deployment(self, spec=spec))
        return found

    # ------------------------------------------------------------------ creating

    def create_predictor(self, model: Any, name: str | None = None, script_file: str | None = None,
                         config_file: str | None = None, description: str | None = None,
                         env_vars: dict[str, str] | None = None, transformer: Any = None,
                         **options: Any) -> Predictor:
        """Describe a deployment of ``model`` (lazy: ``.deploy()`` creates it).

        Args:
            model: A saved model version (``mr.get_model(...)``).
            name: Letters and digits; default: the model's name without other characters.
            script_file: The predictor script (required here: the kit has no default predictor).
            config_file: A file the script finds at ``os.environ["CONFIG_FILE_PATH"]``.
            description: Free text.
            env_vars: Environment variables set while the script runs.
            transformer: Not supported (refused): do the preprocessing in the script.
            **options: Hopsworks' server settings (``resources``, ``serving_tool``,
                ``inference_logger``...): accepted and ignored, they change no prediction.

        Raises:
            DeploymentError: An unknown option, a transformer, a model not saved.
        """
        unknown = sorted(set(options) - NO_OP_OPTIONS)
        if unknown:
            raise DeploymentError(f"create_predictor: unknown argument(s) {', '.join(unknown)}")
        if transformer is not None:
            raise DeploymentError(
                "deployments here have no transformer: Hopsworks runs it before the predictor; "
                "do that preprocessing at the start of the predictor script's predict() instead"
            )
        if getattr(model, "version", None) is None:
            raise DeploymentError(
                f"{getattr(model, 'label', repr(model))} cannot be deployed: save it first (model.save(...)), "
                "or get a saved one with mr.get_model(name, version)"
            )
        if env_vars is not None:
            env_vars = {str(k): str(v) for k, v in arguments.mapping(env_vars, "env_vars", "create_predictor").items()}
        return Predictor(self, model, name, script_file, config_file, description, env_vars)

    def create_deployment(self, predictor: Predictor, name: str | None = None,
                          environment: str | None = None) -> Deployment:
        """A deployment of ``predictor`` (lazy: ``.save()`` creates it). ``environment`` is ignored."""
        del environment
        if not isinstance(predictor, Predictor):
            raise ParameterTypeError(
                "create_deployment needs a predictor from ms.create_predictor(model, ...), "
                f"got {type(predictor).__name__}"
            )
        if name is not None:
            predictor.name = name
        return Deployment(self, predictor=predictor)

    def _local_file(self, path: Any, what: str, deployment: str) -> Path:
        """The local file a lab's ``script_file``/``config_file`` names."""
        if not isinstance(path, (str, os.PathLike)):
            raise ParameterTypeError(f"deployment '{deployment}': {what} must be a path, got {type(path).__name__}")
        candidates = [Path(path).expanduser()]
        uploaded = self._uploaded_file(str(path))
        if uploaded is not None:
            candidates.append(uploaded)
        if self._resolve_path is not None:
            resolved = self._resolve_path(str(path))
            if resolved is not None:
                candidates.insert(0, Path(resolved))
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise PredictorScriptError(
            f"deployment '{deployment}': the {what} {str(path)!r} is not a file here; write it first "
            "(e.g. %%writefile predictor.py in a notebook cell) and pass its path"
        )

    def _uploaded_file(self, path: str) -> Path | None:
        """Where a file uploaded with ``project.get_dataset_api().upload`` is: ``<store>/datasets/...``.

        Labs pass ``/Projects/<project>/Resources/predictor.py`` (or the upload's relative
        ``Resources/predictor.py``); None for a path that would leave that folder.
        """
        root = (self._root.parent / DATASETS_DIR).resolve()
        match = _PROJECT_PATH.fullmatch(path)
        candidate = (root / (match.group(1) if match else path)).resolve()
        return candidate if candidate.is_relative_to(root) else None

    def _create(self, predictor: Predictor, description: str | None) -> dict[str, Any]:
        """Write a new deployment folder (all or nothing); return its spec."""
        name = check_deployment_name(predictor.name)
        if predictor.script_file is None:
            raise DeploymentError(
                f"deployment '{name}' needs a predictor script: pass script_file='predictor.py', a file defining "
                "class Predict with __init__(self) loading the model from os.environ['MODEL_FILES_PATH'] and "
                "predict(self, inputs). (Hopsworks can serve some frameworks without one; the kit cannot.)"
            )
        script = self._local_file(predictor.script_file, "script_file", name)
        if script.suffix != ".py":
            raise PredictorScriptError(f"deployment '{name}': script_file {str(script)!r} must be a Python file (.py)")
        config = None if predictor.config_file is None else self._local_file(predictor.config_file, "config_file", name)
        existing = {n.lower(): n for n in self._names()}
        if name.lower() in existing:
            raise DeploymentError(
                f"a deployment '{existing[name.lower()]}' exists already in {self._root}: get it with "
                f"ms.get_deployment({existing[name.lower()]!r}), or delete it first (deployment.delete(force=True))"
            )
        spec = {
            "name": name, "id": time.time_ns() // 1000, "revision": uuid.uuid4().hex,
            "description": description if description is not None else (predictor.description or ""),
            "model_name": predictor.model_name, "model_version": predictor.model_version,
            "script_file": script.name, "script_source": str(script.resolve()),
            "config_file": None if config is None else config.name, "env_vars": predictor.env_vars or {},
            "status": STATUS_CREATED, "created_at": arguments.now().isoformat(),
        }
        self._root.mkdir(parents=True, exist_ok=True)
        staging = self._root / f".staging-{uuid.uuid4().hex}"
        try:
            staging.mkdir()
            shutil.copy2(script, staging / script.name)
            if config is not None and config.name != script.name:
                shutil.copy2(config, staging / config.name)
            (staging / SPEC_FILE).write_text(json.dumps(spec, indent=2))
            try:
                # A rename: other processes see the whole deployment or none; it fails if the name is taken.
                staging.rename(self._folder(name))
            except OSError:
                raise DeploymentError(
                    f"a deployment '{name}' was just created by another process; get it with "
                    f"ms.get_deployment({name!r})"
                ) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return spec

    def _write_spec(self, spec: dict[str, Any]) -> None:
        """Replace a deployment's spec atomically."""
        folder = self._folder(spec["name"])
        if not folder.is_dir():
            raise DeploymentNotFoundError(f"deployment '{spec['name']}' was deleted (by another process?)")
        temporary = folder / f".{SPEC_FILE}.{uuid.uuid4().hex}"
        temporary.write_text(json.dumps(spec, indent=2))
        os.replace(temporary, folder / SPEC_FILE)


def _json_default(value: Any) -> Any:
    """What JSON cannot write but an HTTP client would send: numpy values, pandas frames, times."""
    if hasattr(value, "tolist"):  # numpy arrays and scalars, pandas Series
        return value.tolist()
    if hasattr(value, "to_dict"):  # DataFrames, as records
        return value.to_dict(orient="records")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _round_trip(value: Any) -> Any:
    """``value`` as it comes out of JSON (as it would behind HTTP)."""
    return json.loads(json.dumps(value, default=_json_default))


@contextlib.contextmanager
def _script_environment(env: dict[str, str], folder: Path) -> Iterator[None]:
    """Set environment variables and put ``folder`` first on ``sys.path`` while a predictor script runs."""
    with _LOCK:
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        sys.path.insert(0, str(folder))
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(folder))
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _run(result: Any) -> Any:
    """The value of ``result``, awaited if the predictor's method is ``async`` (Hopsworks allows both)."""
    if not inspect.isawaitable(result):
        return result

    async def wait() -> Any:
        return await result

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    # Inside Jupyter's running loop: run it on a loop of its own, in another thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, wait()).result()


class Deployment:
    """A model deployment (hsml's ``Deployment``): ``model.deploy(...)`` or ``ms.get_deployment(name)``.

    Attributes:
        name: Letters and digits.
        model_name: The deployed model.
        model_version: Its version.
    """

    def __init__(self, serving: ModelServing, spec: dict[str, Any] | None = None,
                 predictor: Predictor | None = None):
        self._serving = serving
        self._spec = spec
        self._predictor = predictor

    def __repr__(self) -> str:
        state = "not saved" if self._spec is None else self._spec["status"]
        return f"Deployment(name={self.name!r}, model={self.model_name!r} v{self.model_version}, {state})"

    # ------------------------------------------------------------------ metadata

    @property
    def name(self) -> str:
        return self._spec["name"] if self._spec is not None else self._predictor.name  # type: ignore[union-attr]

    @property
    def id(self) -> int | None:
        return None if self._spec is None else self._spec["id"]

    @property
    def description(self) -> str | None:
        return self._spec["description"] if self._spec is not None else self._predictor.description  # type: ignore[union-attr]

    @property
    def model_name(self) -> str:
        return self._spec["model_name"] if self._spec is not None else self._predictor.model_name  # type: ignore[union-attr]

    @property
    def model_version(self) -> int:
        return self._spec["model_version"] if self._spec is not None else self._predictor.model_version  # type: ignore[union-attr]

    @property
    def script_file(self) -> str | None:
        if self._spec is None:
            return None if self._predictor is None else self._predictor.script_file
        return str(self.artifact_files_path / self._spec["script_file"])

    @property
    def artifact_files_path(self) -> Path:
        """The deployment's folder: its copy of the script (``ARTIFACT_FILES_PATH`` inside it)."""
        return self._serving._folder(self.name)

    @property
    def model_path(self) -> str:
        """The model's files folder (``MODEL_FILES_PATH`` inside the script)."""
        return str(self._model_files())

    @property
    def predictor(self) -> Predictor | None:
        return self._predictor

    def describe(self) -> None:
        """Print the deployment as JSON."""
        print(json.dumps(self._current(), indent=2))

    def get_model(self) -> Any:
        """The deployed model version."""
        return self._serving._registry.get_model(self.model_name, self.model_version)

    def get_url(self) -> str:
        """Where it lives (a folder here; Hopsworks gives a web page)."""
        return self.artifact_files_path.as_uri()

    # ------------------------------------------------------------------ lifecycle

    def _current(self) -> dict[str, Any]:
        """The spec as stored now (another process may have started, stopped or deleted it)."""
        if self._spec is None:
            raise DeploymentError(f"deployment '{self.name}' is not created yet: call deployment.save() first")
        spec = self._serving._read_spec(self._spec["name"])
        if spec is None or spec["id"] != self._spec["id"]:
            raise DeploymentNotFoundError(f"deployment '{self._spec['name']}' was deleted")
        self._spec = spec
        return spec

    def save(self, await_update: int | None = 600) -> None:
        """Create the deployment (if new) or store a changed description.

        Raises:
            DeploymentError: The name is not valid or taken, or there is no script.
            PredictorScriptError: The script file does not exist.
        """
        del await_update
        if self._spec is None:
            assert self._predictor is not None
            self._spec = self._serving._create(self._predictor, self._predictor.description)
            return
        spec = self._current()
        if self._predictor is not None and self._predictor.description is not None:
            spec["description"] = self._predictor.description
        self._serving._write_spec(spec)

    def _set_status(self, status: str) -> None:
        spec = self._current()
        spec["status"] = status
        self._serving._write_spec(spec)

    def start(self, await_running: int | None = 600) -> None:
        """Load the predictor script (in this process) and mark the deployment running.

        Raises:
            PredictorScriptError: The script does not import, has no Predict class, or its ``__init__`` raised
                (the deployment stays stopped).
        """
        del await_running
        self._loaded(self._current())
        self._set_status(STATUS_RUNNING)

    def stop(self, await_stopped: int | None = 600) -> None:
        """Mark the deployment stopped (in every process) and drop this process's loaded predictor."""
        del await_stopped
        spec = self._current()
        with _LOCK:
            _LOADED.pop(self._key(spec), None)
        self._set_status(STATUS_STOPPED)

    def delete(self, force: bool = False) -> None:
        """Delete the deployment (the model stays in the registry).

        Raises:
            DeploymentError: It is running and ``force`` is False (Hopsworks refuses too).
        """
        spec = self._current()
        if spec["status"] == STATUS_RUNNING and not force:
            raise DeploymentError(
                f"deployment '{spec['name']}' is running: stop it first (deployment.stop()) or "
                "delete(force=True)"
            )
        with _LOCK:
            _LOADED.pop(self._key(spec), None)
        folder = self._serving._folder(spec["name"])
        aside = folder.with_name(f".deleting-{spec['name']}-{uuid.uuid4().hex}")
        folder.rename(aside)
        shutil.rmtree(aside, ignore_errors=True)
        self._spec = None
        self._predictor = None

    def get_state(self) -> PredictorState:
        status = self._current()["status"]
        return PredictorState(status=status, available_predictor_instances=int(status == STATUS_RUNNING))

    def is_created(self) -> bool:
        return self._spec is not None and self._serving._read_spec(self.name) is not None

    def is_running(self, or_idle: bool = True, or_updating: bool = True) -> bool:
        del or_idle, or_updating
        return self.get_state().status == STATUS_RUNNING

    def is_stopped(self, or_created: bool = True) -> bool:
        status = self.get_state().status
        return status == STATUS_STOPPED or (or_created and status == STATUS_CREATED)

    def get_logs(self, component: str = "predictor", tail: int = 10) -> None:
        """Print where the logs are: the script runs in this process, so its prints appear here."""
        del tail
        if component not in ("predictor", "transformer"):
            raise DeploymentError(f"get_logs: component must be 'predictor' or 'transformer', got {component!r}")
        print(f"deployment '{self.name}' runs in this Python process: what its {component} prints "
              "appears in this notebook or terminal as it runs; there is no separate log")

    def download_artifact_files(self, local_path: str | None = None) -> str:
        """Copy the deployment's files (its script) to ``local_path`` (default: a new folder here); return it."""
        target = Path(local_path) if local_path is not None else Path.cwd() / f"{self.name}_artifact_files"
        shutil.copytree(self.artifact_files_path, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(SPEC_FILE, ".*"))
        return str(target.resolve())

    # ------------------------------------------------------------------ serving

    @staticmethod
    def _key(spec: dict[str, Any]) -> tuple[str, str, str]:
        return (str(spec["name"]), str(spec["id"]), str(spec["revision"]))

    def _model_files(self) -> Path:
        models = self._serving._registry._engine.models
        return models.verified_files(models.get(self.model_name, self.model_version))

    def _environment(self, spec: dict[str, Any]) -> dict[str, str]:
        folder = self.artifact_files_path
        env = {
            "MODEL_FILES_PATH": str(self._model_files()),
            "ARTIFACT_FILES_PATH": str(folder),
            "DEPLOYMENT_NAME": spec["name"],
            "MODEL_NAME": spec["model_name"],
            "MODEL_VERSION": str(spec["model_version"]),
            "ARTIFACT_VERSION": "1",
        }
        if spec.get("config_file"):
            env["CONFIG_FILE_PATH"] = str(folder / spec["config_file"])
        env.update(spec.get("env_vars") or {})
        return env

    def _loaded(self, spec: dict[str, Any]) -> tuple[Any, dict[str, str]]:
        """This process's instance of the script's predictor class (loaded on first use) and its environment."""
        key = self._key(spec)
        with _LOCK:
            if key not in _LOADED:
                # The model's files are checked (SHA-256) once, when the script is loaded, not per request.
                env = self._environment(spec)
                _LOADED[key] = (self._load(spec, env), env)
            return _LOADED[key]

    def _load(self, spec: dict[str, Any], env: dict[str, str]) -> Any:
        name = spec["name"]
        folder = self.artifact_files_path
        script = folder / spec["script_file"]
        module_name = f"_fti_predictor_{name}_{spec['revision']}"
        module_spec = importlib.util.spec_from_file_location(module_name, script)
        if module_spec is None or module_spec.loader is None:
            raise PredictorScriptError(f"deployment '{name}': cannot import its script {script}")
        module = importlib.util.module_from_spec(module_spec)
        with _script_environment(env, folder):
            sys.modules[module_name] = module  # so classes in it can be pickled and dataclasses work
            try:
                module_spec.loader.exec_module(module)
            except Exception as exc:
                sys.modules.pop(module_name, None)
                raise PredictorScriptError(
                    f"deployment '{name}': its predictor script {spec['script_file']} failed to import: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            cls = next((c for c in (getattr(module, n, None) for n in ("Predict", "Predictor"))
                        if isinstance(c, type) and getattr(c, "__module__", None) == module_name), None)
            if cls is None or not callable(getattr(cls, "predict", None)):
                raise PredictorScriptError(
                    f"deployment '{name}': its predictor script {spec['script_file']} defines no class Predict "
                    "(or Predictor) with a predict(self, inputs) method; define one, e.g. class Predict: "
                    "def __init__(self): ...load from os.environ['MODEL_FILES_PATH']...; def predict(self, inputs): ..."
                )
            try:
                instance = cls(**self._init_arguments(cls, name))
            except PredictorScriptError:
                raise
            except Exception as exc:
                raise PredictorScriptError(
                    f"deployment '{name}': {cls.__name__}.__init__ in {spec['script_file']} raised "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        return instance

    def _init_arguments(self, cls: type, name: str) -> dict[str, Any]:
        """What ``__init__`` asks for by name: ``model``, ``project``, ``deployment`` (newer Hopsworks forms)."""
        offered = {"model": self.get_model, "project": lambda: self._serving._project, "deployment": lambda: self}
        chosen: dict[str, Any] = {}
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]  # not self
        for parameter in parameters:
            if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                continue
            if parameter.name in offered:
                chosen[parameter.name] = offered[parameter.name]()
            elif parameter.default is inspect.Parameter.empty:
                raise PredictorScriptError(
                    f"deployment '{name}': {cls.__name__}.__init__ needs '{parameter.name}', which nothing passes; "
                    "it may take only model, project and deployment"
                )
        return chosen

    @staticmethod
    def _request(data: Any, inputs: Any, name: str) -> Any:
        """What the script's ``predict`` receives, from hsml's two forms.

        ``predict(data={"instances": [...]})`` passes the instances (or ``data["inputs"]``,
        else the whole dict); ``predict(inputs=[...])`` passes ``[inputs]`` for one row,
        or the rows as given when ``inputs`` is a list of rows (as hsml wraps it).
        """
        if data is not None:  # Hopsworks ignores inputs when data is given
            if not isinstance(data, dict):
                raise PredictionError(
                    f"deployment '{name}': predict(data=...) takes a dict such as {{'instances': [[1.0, 2.0]]}}; "
                    f"for rows pass predict(inputs=...), got {type(data).__name__}"
                )
            for key in ("instances", "inputs"):
                if key in data:
                    return data[key]
            return data
        if inputs is None:
            raise PredictionError(f"deployment '{name}': predict needs inputs=[...] or data={{'instances': [...]}}")
        if hasattr(inputs, "columns") and hasattr(inputs, "to_dict"):  # a DataFrame: its rows, as records
            inputs = inputs.to_dict(orient="records")
        elif hasattr(inputs, "tolist"):  # a numpy array or a Series: its values
            inputs = inputs.tolist()
        if isinstance(inputs, list) and inputs and isinstance(inputs[0], (list, dict)):
            return inputs
        return [inputs]

    def predict(self, data: Any = None, inputs: Any = None) -> dict[str, Any]:
        """Ask the deployed predictor: ``{"predictions": what its predict returned}``.

        Args:
            data: A request body, e.g. ``{"instances": [[1.0, 2.0]]}``.
            inputs: Model inputs: one row (``[1.0, 2.0]``) or several (``[[...], [...]]``).

        Raises:
            DeploymentNotRunningError: It is not started (``deployment.start()``).
            PredictionError: Bad arguments, the script's predict raised (the original
                exception is chained), or returned something that is not JSON.
            PredictorScriptError: The script could not be loaded in this process.
        """
        spec = self._current()
        name = spec["name"]
        if spec["status"] != STATUS_RUNNING:
            raise DeploymentNotRunningError(
                f"deployment '{name}' is {spec['status'].lower()}, not running: call deployment.start() first"
            )
        try:
            request = _round_trip(self._request(data, inputs, name))
        except TypeError as exc:
            raise PredictionError(f"deployment '{name}': the request cannot be sent as JSON ({exc})") from None
        instance, env = self._loaded(spec)
        try:
            with _script_environment(env, self.artifact_files_path):
                result = _run(instance.predict(request))
        except Exception as exc:
            raise PredictionError(
                f"deployment '{name}': its predictor's predict raised {type(exc).__name__}: {exc}"
            ) from exc
        try:
            return {"predictions": _round_trip(result)}
        except (TypeError, ValueError) as exc:
            raise PredictionError(
                f"deployment '{name}': predict returned a {type(result).__name__}, which cannot be sent back as "
                f"JSON ({exc}); return a list, e.g. self.model.predict(inputs).tolist()"
            ) from None
