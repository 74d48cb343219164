"""The model engine: model versions, aliases and artifacts of one store.

It does the work behind `fti.store.registry.ModelRegistry` and `Model`, on plain
data: a `ModelRecord` describes one model version (its metrics, its lineage, where
its artifact is and the artifact's SHA-256). Saving writes the artifact to a
staging folder first and renames it into place in the same transaction that adds
the version's row, so a failed save leaves neither a row nor a folder behind. A
save killed outright cannot clean up; its staging folder's name records its process
(id and start time), and the next save or registry removes it once that process is gone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fti.exceptions import InUseError, ModelNotFoundError, ModelSaveError
from fti.store import arguments, artifacts
from fti.store.liveness import current_owner, is_alive
from fti.store.storage import Store, fetch_frame, fetch_record, fetch_rows, refuse_case_clash

STAGING_PREFIX = ".staging-"
_LEGACY_STAGING_AGE = 3600.0  # seconds


def _staging_is_dead(folder: Path) -> bool:
    """Whether a staging folder was left by a save whose process is gone."""
    parts = folder.name[len(STAGING_PREFIX):].split("-")
    if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
        return not is_alive(int(parts[0]), int(parts[1]))
    try:
        return time.time() - folder.stat().st_mtime > _LEGACY_STAGING_AGE
    except FileNotFoundError:
        return False  # renamed into place (or removed) meanwhile


@dataclass(frozen=True)
class ModelRecord:
    """One model version, or a model described but not saved yet (``version`` None).

    Attributes:
        name: The model's name.
        description: Free text.
        metrics: ``{metric: value}``, JSON-ready.
        fv_name: The feature view it was trained from, or None.
        fv_version: That view's version.
        td_version: The training dataset version it was trained on.
        trained_on_commit: The commit that training dataset read.
        input_schema: ``[{"name": ..., "dtype": ...}, ...]`` of the input example.
        input_example: A few input rows as records.
        model_schema: ``ModelSchema.to_dict()``, kept as ``model_schema.json`` in the
            version's folder (beside the saved files); not a column of ``fti_models``.
        version: The version number once saved.
        created_at: When it was saved.
        framework: How the artifact was written (see `fti.store.artifacts`).
        artifact: The artifact folder, relative to the store.
        sha256: The artifact's checksum.
    """

    name: str
    description: str = ""
    metrics: dict[str, Any] = field(default_factory=dict, hash=False)
    fv_name: str | None = None
    fv_version: int | None = None
    td_version: int | None = None
    trained_on_commit: int | None = None
    input_schema: list[dict[str, str]] | None = field(default=None, hash=False)
    input_example: list[Any] | None = field(default=None, hash=False)
    model_schema: dict[str, Any] | None = field(default=None, hash=False)
    version: int | None = None
    created_at: pd.Timestamp | None = None
    framework: str | None = None
    artifact: str | None = None
    sha256: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ModelRecord:
        """Build it from a row of ``fti_models``."""
        def optional_int(key: str) -> int | None:
            value = row.get(key)
            return None if value is None or pd.isna(value) else int(value)

        def optional_json(key: str) -> Any:
            value = row.get(key)
            return None if value is None else json.loads(value)

        return cls(
            name=row["name"], description=row["description"], metrics=json.loads(row["metrics"]),
            fv_name=row["fv_name"], fv_version=optional_int("fv_version"), td_version=optional_int("td_version"),
            trained_on_commit=optional_int("trained_on_commit"), input_schema=optional_json("input_schema"),
            input_example=optional_json("input_example"), version=int(row["version"]),
            created_at=row["created_at"], framework=row["framework"], artifact=row["artifact"], sha256=row["sha256"],
        )

    @property
    def label(self) -> str:
        """How messages name it: ``model 'titanic' v3`` (or ``model 'titanic'`` before it is saved)."""
        return f"model '{self.name}'" + ("" if self.version is None else f" v{self.version}")


class ModelEngine:
    """Reads and writes the model registry of one store.

    Args:
        storage: The store's folder and offline database.
    """

    def __init__(self, storage: Store):
        self._storage = storage

    @property
    def path(self) -> Path:
        """The store folder."""
        return self._storage.path

    def save(self, draft: ModelRecord, obj: Any, version: int | None = None) -> ModelRecord:
        """Store ``obj`` as a new version of ``draft.name``; return the saved record.

        Args:
            draft: What to record.
            obj: What to save (see `fti.store.artifacts.write`).
            version: The version number to give (Hopsworks' ``create_model(version=...)``);
                None gives the next one.

        Raises:
            ModelSaveError: ``obj`` cannot be written, or ``version`` is taken (or was, by a
                deleted version).
        """
        root = self._storage.models_path / draft.name
        with self._storage.connect() as con:  # before writing what may be hundreds of megabytes
            refuse_case_clash(con, "fti_models", "model", draft.name)
        self.remove_dead_staging()
        pid, started = current_owner()
        # The owner in the name: a later save or registry knows whether the folder is garbage.
        staging = root / f"{STAGING_PREFIX}{pid}-{started}-{uuid.uuid4().hex}"
        final = None
        try:
            # Inside the try: an object that cannot be written must not leave a half-written folder.
            staging.mkdir(parents=True)
            framework = artifacts.write(obj, staging / artifacts.FILES_DIR, draft.label)
            if draft.model_schema is not None:
                (staging / artifacts.MODEL_SCHEMA_FILE).write_text(json.dumps(draft.model_schema, sort_keys=True))
            digest = artifacts.checksum(staging)
            created_at = arguments.now()
            with self._storage.transaction() as con:
                refuse_case_clash(con, "fti_models", "model", draft.name)
                self._storage.claim_timeline(con)  # model versions follow the store's timeline too
                # Past every version ever given, deleted ones included: "v3" in a run log means one model.
                if version is None:
                    version = int(fetch_rows(
                        con, "SELECT greatest((SELECT coalesce(max(version), 0) FROM fti_models WHERE name = ?), "
                        "(SELECT coalesce(max(version), 0) FROM fti_deleted WHERE kind = 'model' AND name = ?)) + 1",
                        [draft.name, draft.name],
                    )[0][0])
                elif fetch_rows(
                    con, "SELECT version FROM fti_models WHERE name = ? AND version = ? UNION ALL "
                    "SELECT version FROM fti_deleted WHERE kind = 'model' AND name = ? AND version = ?",
                    [draft.name, version, draft.name, version],
                ):
                    raise ModelSaveError(
                        f"cannot save {draft.label} as version {version}: that version exists (or existed and "
                        "was deleted; numbers are never given twice). Leave version=None to get the next one"
                    )
                final = root / str(version)
                if final.exists():  # left by a process that died before its commit: no row points to it
                    shutil.rmtree(final)
                staging.rename(final)
                relative = final.relative_to(self._storage.path).as_posix()
                con.execute(
                    "INSERT INTO fti_models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        draft.name, version, created_at, draft.description,
                        json.dumps(draft.metrics, sort_keys=True), draft.fv_name,
                        draft.fv_version, draft.td_version, draft.trained_on_commit,
                        None if draft.input_schema is None else json.dumps(draft.input_schema),
                        None if draft.input_example is None else json.dumps(draft.input_example),
                        framework, relative, digest,
                    ],
                )
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if final is not None:
                shutil.rmtree(final, ignore_errors=True)
            raise
        return dataclasses.replace(draft, version=version, created_at=created_at, framework=framework,
                                   artifact=relative, sha256=digest)

    def remove_dead_staging(self) -> list[Path]:
        """Remove the staging folders of saves whose process died (killed mid-save); return them.

        A folder whose owner is alive is a save in progress and is left alone. Folders
        named before owners were recorded (``.staging-<hex>``) are removed once they are
        an hour old: no save takes that long between writing and renaming.
        """
        removed = []
        for staging in self._storage.models_path.glob(f"*/{STAGING_PREFIX}*"):
            if _staging_is_dead(staging):
                shutil.rmtree(staging, ignore_errors=True)
                removed.append(staging)
        return removed

    def get(self, name: str, version: int | None) -> ModelRecord:
        """Return version ``version`` of a model, or its newest version when None.

        Raises:
            ModelNotFoundError: No such model or version.
        """
        with self._storage.connect() as con:
            if version is None:
                row = fetch_record(con, "SELECT * FROM fti_models WHERE name = ? ORDER BY version DESC LIMIT 1", [name])
                if row is None:
                    raise ModelNotFoundError(f"there is no model '{name}' in the registry at {self._storage.path}")
            else:
                row = fetch_record(con, "SELECT * FROM fti_models WHERE name = ? AND version = ?", [name, version])
                if row is None:
                    raise ModelNotFoundError(f"model '{name}' has no version {version}")
        return ModelRecord.from_row(row)

    def versions(self, name: str) -> list[ModelRecord]:
        """Every version of a model, oldest first."""
        with self._storage.connect() as con:
            frame = fetch_frame(con, "SELECT * FROM fti_models WHERE name = ? ORDER BY version", [name])
        return [ModelRecord.from_row(dict(row)) for row in frame.to_dict(orient="records")]

    @staticmethod
    def trained_from(con: Any, fv_name: str, fv_version: int) -> list[str]:
        """Model versions trained from feature view ``fv_name`` v``fv_version``, as ``"'titanic' v1"``, on ``con``."""
        rows = fetch_rows(con, "SELECT name, version FROM fti_models WHERE fv_name = ? AND fv_version = ? "
                          "ORDER BY name, version", [fv_name, fv_version])
        return [f"'{name}' v{version}" for name, version in rows]

    def delete(self, name: str, version: int) -> None:
        """Delete a model version: its row and its artifact folder, all or nothing.

        The folder is first renamed aside, so a failed delete can put it back; it is
        removed once the row is gone. The version number is never given out again.

        Raises:
            ModelNotFoundError: No such model or version.
            InUseError: An alias points at this version; nothing was deleted.
        """
        record = self.get(name, version)
        folder = self.artifact_path(record)
        aside = folder.with_name(f".deleting-{folder.name}-{uuid.uuid4().hex}") if folder is not None else None
        moved = False
        try:
            with self._storage.transaction() as con:
                if fetch_record(con, "SELECT version FROM fti_models WHERE name = ? AND version = ?",
                                [name, version]) is None:
                    raise ModelNotFoundError(f"{record.label} was deleted meanwhile by another process")
                aliases = [alias for (alias,) in fetch_rows(
                    con, "SELECT alias FROM fti_model_aliases WHERE name = ? AND version = ? ORDER BY alias",
                    [name, version])]
                if aliases:
                    quoted = ", ".join(f"'{alias}'" for alias in aliases)
                    raise InUseError(
                        f"{record.label} cannot be deleted: alias {quoted} points at it, and pipelines load models "
                        f"by alias. Point the alias at another version first (mr.set_alias({name!r}, "
                        f"{aliases[0]!r}, VERSION)) or remove it (mr.delete_alias({name!r}, {aliases[0]!r}))"
                    )
                if folder is not None and aside is not None and folder.exists():
                    folder.rename(aside)
                    moved = True
                con.execute("DELETE FROM fti_models WHERE name = ? AND version = ?", [name, version])
                con.execute("INSERT INTO fti_deleted VALUES (?, ?, ?, ?, NULL)",
                            ["model", name, version, arguments.now()])
        except BaseException:
            if moved and aside is not None and folder is not None:
                aside.rename(folder)
            raise
        if moved and aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
        if folder is not None:
            # The model's last version: no empty models/NAME/ left behind (unless a save just began there).
            with contextlib.suppress(OSError):
                folder.parent.rmdir()

    def alias_version(self, name: str, alias: str) -> int:
        """The version ``alias`` points to.

        Raises:
            ModelNotFoundError: The model has no such alias.
        """
        with self._storage.connect() as con:
            row = fetch_record(con, "SELECT version FROM fti_model_aliases WHERE name = ? AND alias = ?", [name, alias])
        if row is None:
            raise ModelNotFoundError(f"model '{name}' has no alias '{alias}' (set one with mr.set_alias)")
        return int(row["version"])

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at an existing version.

        Raises:
            ModelNotFoundError: No such model or version.
        """
        record = self.get(name, version)
        with self._storage.transaction() as con:
            con.execute(
                "INSERT OR REPLACE INTO fti_model_aliases VALUES (?, ?, ?, ?)",
                [name, alias, record.version, arguments.now()],
            )

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias (nothing happens if it does not exist)."""
        with self._storage.transaction() as con:
            con.execute("DELETE FROM fti_model_aliases WHERE name = ? AND alias = ?", [name, alias])

    def list_all(self) -> pd.DataFrame:
        """Every version of every model: name, version, metrics, aliases, created_at, feature view, description."""
        with self._storage.connect() as con:
            frame = fetch_frame(
                con,
                "SELECT m.name, m.version, m.metrics, "
                "coalesce(list(a.alias ORDER BY a.alias) FILTER (WHERE a.alias IS NOT NULL), []) AS aliases, "
                "m.created_at, m.fv_name, m.fv_version, m.td_version, m.description FROM fti_models m "
                "LEFT JOIN fti_model_aliases a ON a.name = m.name AND a.version = m.version "
                "GROUP BY ALL ORDER BY m.name, m.version",
            )
        frame["metrics"] = [json.loads(metrics) for metrics in frame["metrics"]]
        frame["aliases"] = [list(aliases) for aliases in frame["aliases"]]
        frame.insert(5, "feature_view", [
            None if fv is None or pd.isna(fv) else f"{fv} v{int(version)}"
            for fv, version in zip(frame.pop("fv_name"), frame.pop("fv_version"), strict=True)])
        frame["td_version"] = frame["td_version"].astype("Int64")
        return frame.rename(columns={"td_version": "training_dataset_version"})

    def aliases(self, name: str) -> dict[str, int]:
        """``{alias: version}`` of a model."""
        with self._storage.connect() as con:
            rows = fetch_rows(con, "SELECT alias, version FROM fti_model_aliases WHERE name = ? ORDER BY alias", [name])
        return {alias: int(version) for alias, version in rows}

    def artifact_path(self, record: ModelRecord) -> Path | None:
        """The version's folder of a saved model (None before it is saved): its files and metadata."""
        return None if record.artifact is None else self._storage.path / record.artifact

    def files_path(self, record: ModelRecord) -> Path | None:
        """The folder holding exactly what was saved (None before it is saved).

        Versions saved before the ``files/`` layout kept the object's file in the
        version's folder itself; theirs is that folder.
        """
        folder = self.artifact_path(record)
        if folder is None:
            return None
        files = folder / artifacts.FILES_DIR
        return files if files.is_dir() else folder

    def model_schema(self, record: ModelRecord) -> dict[str, Any] | None:
        """The saved ``ModelSchema.to_dict()`` of a version, or None (none was given, or not saved yet)."""
        folder = self.artifact_path(record)
        if folder is None:
            return record.model_schema
        try:
            return json.loads((folder / artifacts.MODEL_SCHEMA_FILE).read_text())
        except FileNotFoundError:
            return None

    def verified_artifact(self, record: ModelRecord) -> Path:
        """The artifact folder, after checking it still has the recorded SHA-256.

        Raises:
            ModelNotFoundError: The model is not saved yet.
            ArtifactIntegrityError: The artifact changed since it was saved.
        """
        folder = self.artifact_path(record)
        if folder is None or record.sha256 is None:
            raise ModelNotFoundError(f"{record.label} is not saved yet: call model.save(trained_model) first")
        if not folder.is_dir():
            with self._storage.connect() as con:
                if fetch_record(con, "SELECT version FROM fti_models WHERE name = ? AND version = ?",
                                [record.name, record.version]) is None:
                    # A handle kept after model.delete(): say so, rather than "the artifact is missing".
                    raise ModelNotFoundError(f"{record.label} was deleted from the registry at {self.path}")
        artifacts.verify(folder, record.sha256, record.label)
        return folder

    def verified_files(self, record: ModelRecord) -> Path:
        """`files_path`, after checking the version's SHA-256 (see `verified_artifact`)."""
        self.verified_artifact(record)
        files = self.files_path(record)
        assert files is not None  # verified_artifact raised for an unsaved record
        return files

    def load(self, record: ModelRecord) -> Any:
        """The trained object (or the path of a saved file or folder), checked first."""
        return artifacts.read(self.verified_files(record), record.framework or "")
