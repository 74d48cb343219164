"""The project's file area: ``project.get_dataset_api()`` as a local stand-in.

On Hopsworks a project has a file system of "datasets" (top-level folders such as
``Resources`` or ``Logs``), and labs move files in and out with
``dataset_api.upload("data.csv", "Resources")`` and
``dataset_api.download("Resources/data.csv")``. Here the file area is the folder
``<store>/datasets/``: ``Resources/data.csv`` is ``<store>/datasets/Resources/data.csv``.

Paths are written as on Hopsworks: relative to the project (``Resources/x``), or absolute
under the project's own folder (``/Projects/<project>/Resources/x``, also with ``hdfs://``).
A path that would leave the area (``..``, any other absolute path) is refused, and so are
the folders the feature store and model registry own (``Models``, ``<project>_Training_Datasets``,
``<project>_featurestore.db``): models are saved and read through the model registry.

Every write is staged: the file or folder is copied to a hidden temporary name next to its
target, then renamed into place, so a failed copy never leaves half a file under the real name.
Replacing an existing target needs ``overwrite=True``, as on Hopsworks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from fti.exceptions import DatasetExistsError, DatasetNotFoundError, DatasetPathError, ParameterError
from fti.store import arguments

__all__ = ["DATASETS_DIR", "DEFAULT_DATASETS", "DatasetApi", "Inode"]

DATASETS_DIR = "datasets"
# The top-level datasets every Hopsworks project starts with that labs write to.
DEFAULT_DATASETS = ("Resources", "Logs", "Jupyter")
# Top-level folders that belong to the model registry and the feature store on Hopsworks.
_MANAGED = re.compile(r"^(Models|.+_Training_Datasets|.+_featurestore\.db)$")
_STAGING_PREFIX = ".fti-staging-"
_SORT_FIELDS = ("NAME", "SIZE", "MODIFICATION_TIME")


class Inode:
    """One entry of a folder listing (`DatasetApi.list_files`): a file or a folder."""

    def __init__(self, attributes: dict[str, Any]):
        self._attributes = attributes

    @property
    def name(self) -> str:
        """The entry's name."""
        return self._attributes["name"]

    @property
    def path(self) -> str:
        """The entry's path, as the dataset API takes it back."""
        return self._attributes["path"]

    @property
    def dir(self) -> bool:
        """True for a folder."""
        return self._attributes["dir"]

    @property
    def size(self) -> int:
        """Size in bytes (0 for a folder)."""
        return self._attributes["size"]

    @property
    def owner(self) -> str | None:
        """The local user (the area has one owner)."""
        return self._attributes["owner"]

    @property
    def permission(self) -> str:
        """Permissions as ``ls -l`` shows them, e.g. ``-rw-r--r--``."""
        return self._attributes["permission"]

    @property
    def modification_time(self) -> str:
        """Last modification, ISO time in UTC."""
        return self._attributes["modificationTime"]

    def __repr__(self) -> str:
        return f"Inode(path={self.path!r}, dir={self.dir})"


class DatasetApi:
    """``project.get_dataset_api()``: upload, download and manage files in ``<store>/datasets/``.

    Args:
        store_path: The store folder; the file area is its ``datasets/`` folder.
        project: The project's name: paths ``/Projects/<project>/...`` are then accepted, and
            listings and `mkdir` give paths in that form, as Hopsworks does.
    """

    def __init__(self, store_path: str | os.PathLike[str], project: str | None = None):
        self.root = (Path(store_path).expanduser().resolve() / DATASETS_DIR)
        self.project = None if project is None else arguments.text(project, "project", "DatasetApi")
        for dataset in DEFAULT_DATASETS:
            (self.root / dataset).mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"DatasetApi({str(self.root)!r})"

    # region Transfers

    def upload(self, local_path: str | os.PathLike[str], upload_path: str | os.PathLike[str], overwrite: bool = False,
               chunk_size: int | None = None, simultaneous_uploads: int | None = None,
               simultaneous_chunks: int | None = None, max_chunk_retries: int | None = None,
               chunk_retry_interval: int | None = None) -> str:
        """Copy a local file or folder into a folder of the file area.

        Args:
            local_path: The file or folder to upload (relative to the working directory, or absolute).
            upload_path: The folder to upload into, e.g. ``"Resources"``; created if missing.
            overwrite: Replace ``upload_path/<name>`` if it exists (else that is an error).
            chunk_size: No-op here (how Hopsworks splits the transfer; a local copy has no chunks).
            simultaneous_uploads: No-op here, as ``chunk_size``.
            simultaneous_chunks: No-op here, as ``chunk_size``.
            max_chunk_retries: No-op here, as ``chunk_size``.
            chunk_retry_interval: No-op here, as ``chunk_size``.

        Returns:
            ``upload_path + "/" + <name of local_path>``, the uploaded file's path in the area.

        Raises:
            DatasetNotFoundError: ``local_path`` does not exist.
            DatasetExistsError: The target exists and ``overwrite`` is False; nothing was written.
            DatasetPathError: ``upload_path`` leaves the area, is the area's root, or is a file.
        """
        del chunk_size, simultaneous_uploads, simultaneous_chunks, max_chunk_retries, chunk_retry_interval
        if isinstance(upload_path, os.PathLike):
            upload_path = os.fspath(upload_path)
        overwrite = arguments.flag(overwrite, "overwrite", "upload")
        source = _local(local_path, "upload")
        if not source.exists():
            raise DatasetNotFoundError(f"upload: local path {source} does not exist; nothing was uploaded")
        folder_parts, folder = self._resolve(upload_path, "upload")
        if not folder_parts:
            raise DatasetPathError(
                f"upload: upload_path {upload_path!r} is the project's root; upload into a dataset, "
                f"e.g. dataset_api.upload({str(local_path)!r}, 'Resources')"
            )
        if folder.is_file():
            raise DatasetPathError(f"upload: upload_path {upload_path!r} is a file, not a folder to upload into")
        self._place(source, folder / source.name, overwrite, f"{'/'.join(folder_parts)}/{source.name}", "upload")
        return f"{upload_path.rstrip('/')}/{source.name}"

    def download(self, path: str, local_path: str | os.PathLike[str] | None = None,
                 overwrite: bool = False, chunk_size: int | None = None) -> str:
        """Copy a file (or folder) of the file area to the local file system.

        Args:
            path: The file in the area, e.g. ``"Resources/data.csv"``. A folder is copied whole
                (Hopsworks downloads files only).
            local_path: Where to put it: an existing folder (the file keeps its name inside it)
                or a file path; default the working directory. Relative paths are taken from
                the working directory.
            overwrite: Replace an existing local file or folder (else that is an error).
            chunk_size: No-op here (how Hopsworks splits the transfer).

        Returns:
            The absolute local path of the downloaded file.

        Raises:
            DatasetNotFoundError: ``path`` does not exist in the area.
            DatasetExistsError: The local target exists and ``overwrite`` is False (a
                ``FileExistsError``, an ``IOError`` as on Hopsworks); nothing was written.
            DatasetPathError: ``path`` leaves the area.
        """
        del chunk_size
        overwrite = arguments.flag(overwrite, "overwrite", "download")
        parts, source = self._resolve(path, "download")
        if not parts or not source.exists():
            raise DatasetNotFoundError(f"download: {path!r} does not exist in the project's files ({self.root})")
        target = Path.cwd() if local_path is None else _local(local_path, "download")
        if target.is_dir():  # as on Hopsworks: into an existing folder, under the file's own name
            target = target / source.name
        self._place(source, target, overwrite, str(target), "download")
        return str(target)

    def copy(self, source_path: str, destination_path: str, overwrite: bool = False) -> None:
        """Copy a file or folder inside the area to ``destination_path`` (the new path, not its folder).

        Raises:
            DatasetNotFoundError: ``source_path`` does not exist.
            DatasetExistsError: ``destination_path`` exists and ``overwrite`` is False.
            DatasetPathError: A path leaves the area, or the destination is a top-level dataset.
        """
        self._transfer(source_path, destination_path, overwrite, "copy")

    def move(self, source_path: str, destination_path: str, overwrite: bool = False) -> None:
        """Move a file or folder inside the area to ``destination_path`` (the new path, not its folder).

        Raises:
            DatasetNotFoundError: ``source_path`` does not exist.
            DatasetExistsError: ``destination_path`` exists and ``overwrite`` is False.
            DatasetPathError: A path leaves the area, or the destination is a top-level dataset.
        """
        source = self._transfer(source_path, destination_path, overwrite, "move")
        self._discard(source)

    # region Folders

    def exists(self, path: str) -> bool:
        """Whether a file or folder exists in the area (``""`` is the area itself).

        Raises:
            DatasetPathError: ``path`` leaves the area (it is not merely missing).
        """
        return self._resolve(path, "exists")[1].exists()

    def path_exists(self, remote_path: str) -> bool:
        """Deprecated on Hopsworks: `exists`."""
        return self.exists(remote_path)

    def remove(self, path: str) -> None:
        """Delete a file or a folder (with everything in it).

        Raises:
            DatasetNotFoundError: Nothing is at ``path``.
            DatasetPathError: ``path`` leaves the area or is its root.
        """
        parts, target = self._resolve(path, "remove")
        if not parts:
            raise DatasetPathError(f"remove: {path!r} is the project's root; name a dataset or a file in one")
        if not target.exists():
            raise DatasetNotFoundError(f"remove: {path!r} does not exist in the project's files ({self.root})")
        self._discard(target)

    def rm(self, remote_path: str) -> None:
        """Deprecated on Hopsworks: `remove`."""
        self.remove(remote_path)

    def mkdir(self, path: str) -> str:
        """Create a folder (and the folders above it); an existing folder is left as it is.

        Returns:
            The folder's path: ``/Projects/<project>/<path>`` when the project is known, as
            Hopsworks returns it, else ``<path>``.

        Raises:
            DatasetPathError: ``path`` leaves the area, is its root, or is an existing file.
        """
        parts, target = self._resolve(path, "mkdir")
        if not parts:
            raise DatasetPathError(f"mkdir: {path!r} is the project's root, which exists")
        if target.is_file():
            raise DatasetPathError(f"mkdir: {path!r} is an existing file, not a folder")
        target.mkdir(parents=True, exist_ok=True)
        return self._shown(parts)

    def list(self, remote_path: str, sort_by: str | None = None, offset: int = 0, limit: int = 1000) -> dict:
        """List a folder, in the shape of the Hopsworks REST answer (deprecated there).

        Args:
            remote_path: The folder, e.g. ``"Resources"`` (``""`` lists the datasets).
            sort_by: ``"<FIELD>:asc"`` or ``":desc"`` with FIELD one of NAME, SIZE,
                MODIFICATION_TIME; default by name.
            offset: Entries to skip.
            limit: Most entries to return.

        Returns:
            ``{"count": <entries in the folder>, "items": [{"attributes": {"name", "path",
            "dir", "size", "owner", "permission", "modificationTime"}}, ...]}``.

        Raises:
            DatasetNotFoundError: The folder does not exist.
            DatasetPathError: It leaves the area or is a file.
            ParameterError: ``sort_by`` names another field (such as Hopsworks' ``ID``, which has no
                local meaning), or ``offset``/``limit`` is negative.
        """
        parts, folder = self._resolve(remote_path, "list")
        if not folder.exists():
            raise DatasetNotFoundError(f"list: {remote_path!r} does not exist in the project's files ({self.root})")
        if not folder.is_dir():
            raise DatasetPathError(f"list: {remote_path!r} is a file, not a folder")
        field, descending = _sort_order(sort_by)
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ParameterError(f"list: offset must be a whole number of entries to skip, 0 or more, got {offset!r}")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ParameterError(f"list: limit must be a whole number of entries, 0 or more, got {limit!r}")
        entries = [self._attributes(parts, child) for child in folder.iterdir()
                   if not child.name.startswith(_STAGING_PREFIX)]
        entries.sort(key=lambda entry: (entry[field], entry["name"]), reverse=descending)
        return {"count": len(entries), "items": [{"attributes": entry} for entry in entries[offset:offset + limit]]}

    def list_files(self, path: str, offset: int = 0, limit: int = 1000) -> tuple[int, list[Inode]]:
        """List a folder as ``(count, [Inode, ...])``, sorted by name (deprecated on Hopsworks).

        Hopsworks takes a full path here, ``/Projects/<project>/Resources``; a relative one works too.
        """
        listing = self.list(path, offset=offset, limit=limit)
        return listing["count"], [Inode(item["attributes"]) for item in listing["items"]]

    # region Internals

    def _resolve(self, path: Any, where: str) -> tuple[list[str], Path]:
        """Turn a Hopsworks-style path into its parts and its local path, refusing any that leaves the area."""
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        path = arguments.text(path, "path", where)
        text = path
        for scheme in ("hdfs://", "hopsfs://"):
            if text.startswith(scheme):
                text = text[len(scheme):]
        if "\\" in text:
            raise DatasetPathError(f"{where}: path {path!r} contains '\\'; separate folders with '/'")
        if text.startswith("/"):
            own = f"/Projects/{self.project}" if self.project else None
            if own is None or not (text == own or text.startswith(own + "/")):
                mine = f"'{own}/...'" if own else "relative to the project"
                raise DatasetPathError(
                    f"{where}: path {path!r} is absolute and outside this project's files; write it {mine} "
                    f"or relative to the project, e.g. 'Resources/data.csv'"
                )
            text = text[len(own):]
        parts = [part for part in PurePosixPath(text).parts if part not in ("/", ".")]
        if ".." in parts:
            raise DatasetPathError(
                f"{where}: path {path!r} contains '..', which could leave the project's files; "
                f"write the path from the dataset down, e.g. 'Resources/data.csv'"
            )
        if parts and _MANAGED.match(parts[0]):
            raise DatasetPathError(
                f"{where}: {parts[0]!r} belongs to the model registry or the feature store, which keep their "
                f"files themselves; save a model with model.save(folder) and fetch it with "
                f"mr.get_model(name, version).download(), and read features through the feature store"
            )
        if any(part.startswith(_STAGING_PREFIX) for part in parts):
            raise DatasetPathError(f"{where}: path {path!r} names an unfinished transfer; those are not files")
        local = self.root.joinpath(*parts)
        # A symbolic link inside the area must not lead out of it either.
        if not local.resolve().is_relative_to(self.root.resolve()):
            raise DatasetPathError(f"{where}: path {path!r} leads out of the project's files through a link")
        return parts, local

    def _shown(self, parts: list[str]) -> str:
        relative = "/".join(parts)
        return f"/Projects/{self.project}/{relative}" if self.project else relative

    def _attributes(self, parts: list[str], child: Path) -> dict[str, Any]:
        status = child.stat()
        return {
            "name": child.name,
            "path": self._shown([*parts, child.name]),
            "dir": child.is_dir(),
            "size": 0 if child.is_dir() else status.st_size,
            "owner": _local_user(),
            "permission": stat.filemode(status.st_mode),
            "modificationTime": dt.datetime.fromtimestamp(status.st_mtime, dt.UTC).isoformat(),
        }

    def _transfer(self, source_path: str, destination_path: str, overwrite: bool, where: str) -> Path:
        overwrite = arguments.flag(overwrite, "overwrite", where)
        source_parts, source = self._resolve(source_path, where)
        if not source_parts or not source.exists():
            raise DatasetNotFoundError(f"{where}: {source_path!r} does not exist in the project's files ({self.root})")
        target_parts, target = self._resolve(destination_path, where)
        if len(target_parts) < 2:
            raise DatasetPathError(
                f"{where}: destination {destination_path!r} is the root or a top-level dataset, which cannot be "
                f"replaced; give the new path inside a dataset, e.g. 'Resources/{source.name}'"
            )
        self._place(source, target, overwrite, "/".join(target_parts), where)
        return source

    def _place(self, source: Path, target: Path, overwrite: bool, shown: str, where: str) -> None:
        """Copy ``source`` to ``target`` through a staged copy, replacing ``target`` only if ``overwrite``."""
        if target.exists() and not overwrite:
            raise DatasetExistsError(f"{where}: {shown} already exists; set overwrite=True to replace it")
        if target == source or source.is_relative_to(target) or target.is_relative_to(source):
            # Replacing the source, or copying a folder into itself, would destroy or never end.
            raise DatasetPathError(
                f"{where}: cannot put {source} at {shown}, which is that path itself, inside it or above it; "
                f"choose a target elsewhere"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=target.parent))
        try:
            staged = staging / "new"
            if source.is_dir():
                shutil.copytree(source, staged, symlinks=False)
            else:
                shutil.copy2(source, staged)
            if not target.exists():
                os.replace(staged, target)
            elif not overwrite:  # created by someone else meanwhile
                raise DatasetExistsError(f"{where}: {shown} already exists; set overwrite=True to replace it")
            elif target.is_file() and staged.is_file():
                os.replace(staged, target)  # one atomic step
            else:
                # A folder cannot be renamed over: move the old one aside, put the new one in,
                # and put the old one back if that fails.
                old = staging / "old"
                os.replace(target, old)
                try:
                    os.replace(staged, target)
                except OSError:
                    os.replace(old, target)
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _discard(self, target: Path) -> None:
        """Delete a file or folder: first renamed aside in one step, so no half-deleted folder stays visible."""
        staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=target.parent))
        os.replace(target, staging / "old")
        shutil.rmtree(staging, ignore_errors=True)


def _local(path: Any, where: str) -> Path:
    """A local path argument, made absolute from the working directory."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    path = arguments.text(path, "local_path", where)
    return Path(path).expanduser().absolute()


def _sort_order(sort_by: str | None) -> tuple[str, bool]:
    if sort_by is None:
        return "name", False
    field, _, direction = arguments.text(sort_by, "sort_by", "list").partition(":")
    direction = direction.lower() or "asc"
    if field.upper() not in _SORT_FIELDS or direction not in ("asc", "desc"):
        raise ParameterError(
            f"list: sort_by={sort_by!r} is not supported here; write '<FIELD>:asc' or '<FIELD>:desc' with FIELD "
            f"one of {', '.join(_SORT_FIELDS)} (Hopsworks' ID order has no local meaning)"
        )
    key = {"NAME": "name", "SIZE": "size", "MODIFICATION_TIME": "modificationTime"}[field.upper()]
    return key, direction == "desc"


def _local_user() -> str | None:
    with contextlib.suppress(KeyError, OSError):
        return getpass.getuser()
    return None
