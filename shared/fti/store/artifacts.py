"""Writing trained models to disk and reading them back, with a checksum.

XGBoost models are saved in XGBoost's own UBJSON format, which loads without
running any code. Other Python objects (scikit-learn estimators, for example)
have no such format in the libraries the kit uses, so they are saved with
joblib, which is pickle: loading a pickle runs code, so only load artifacts from
a store you trust. The SHA-256 recorded at save time catches a file that was
changed or damaged since.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

from fti.exceptions import ArtifactIntegrityError, ModelSaveError

XGBOOST_FILE = "model.ubj"
JOBLIB_FILE = "model.joblib"
# A model version's folder holds FILES_DIR (what the lab saved: `Model.download()` returns it)
# and the kit's metadata beside it (MODEL_SCHEMA_FILE). Versions saved by kits before this
# layout have the object's file (model.joblib, model.ubj) directly in the version folder.
FILES_DIR = "files"
MODEL_SCHEMA_FILE = "model_schema.json"


def _xgboost_class(obj: Any) -> str | None:
    module = type(obj).__module__
    if module.startswith("xgboost"):
        return f"xgboost.{type(obj).__name__}"
    return None


def write(obj: Any, folder: Path, what: str = "model") -> str:
    """Save ``obj`` into ``folder`` (created; must not exist yet); return its framework tag for `read`.

    ``folder`` then holds exactly what the caller saved: the files of a saved folder
    (not the folder itself, so ``model_dir/model.pkl`` is ``folder/model.pkl``), the
    one saved file, or the kit's own file for an object (``model.ubj``/``model.joblib``).

    Args:
        obj: An XGBoost model (native format), a path to a file or directory
            (copied as is), or any picklable Python object (joblib).
        folder: Where to write; must not exist yet.
        what: The model, for messages (``"model 'titanic'"``).

    Raises:
        ModelSaveError: ``obj`` is a path to nothing, or an object that cannot be pickled
            (a lambda, an open file, a lock...).
    """
    if isinstance(obj, (str, os.PathLike)):
        source = Path(obj)
        if source.is_dir():
            shutil.copytree(source, folder)
            return "directory"
        if source.is_file():
            folder.mkdir(parents=True, exist_ok=False)
            shutil.copy2(source, folder / source.name)
            return "file"
        raise ModelSaveError(f"cannot save {what}: {source} is neither a file nor a directory")
    folder.mkdir(parents=True, exist_ok=False)
    xgboost_class = _xgboost_class(obj)
    if xgboost_class is not None:
        obj.save_model(str(folder / XGBOOST_FILE))
        return xgboost_class
    import joblib

    try:
        joblib.dump(obj, folder / JOBLIB_FILE)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        # What pickle raises for a lambda, a local function, a lock or an open file.
        raise ModelSaveError(
            f"cannot save {what}: a {type(obj).__name__} cannot be pickled ({exc}); save the trained model "
            "object itself, or write it to a file and save that path"
        ) from None
    return "joblib"


def read(folder: Path, framework: str) -> Any:
    """Load what `write` saved into ``folder``: the object, or the path of a saved file or directory."""
    if framework == "directory":
        return folder
    if framework == "file":
        return next(path for path in folder.iterdir() if path.is_file())
    if framework.startswith("xgboost."):
        module = importlib.import_module("xgboost")
        model = getattr(module, framework.split(".", 1)[1])()
        model.load_model(str(folder / XGBOOST_FILE))
        return model
    if framework == "joblib":
        import joblib

        return joblib.load(folder / JOBLIB_FILE)
    raise ArtifactIntegrityError(f"the artifact in {folder} has an unknown framework {framework!r}; it is not loaded")


def checksum(folder: Path) -> str:
    """SHA-256 over every file in ``folder``: relative paths and contents, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def verify(folder: Path, expected: str, what: str) -> None:
    """Raise `ArtifactIntegrityError` unless ``folder`` still has the checksum ``expected``."""
    if not folder.is_dir():
        raise ArtifactIntegrityError(f"{what}: the artifact folder {folder} is missing")
    actual = checksum(folder)
    if actual != expected:
        raise ArtifactIntegrityError(
            f"{what}: the artifact in {folder} has SHA-256 {actual[:12]}… but {expected[:12]}… was recorded "
            "when it was saved; it was changed or damaged, so it is not loaded"
        )
