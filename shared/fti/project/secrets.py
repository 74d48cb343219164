"""Secrets: ``hopsworks.get_secrets_api()`` as a local stand-in.

A lab asks for an API key with ``secrets_api.get_secret("OPENAI_API_KEY").value``.
Here a secret is looked up in two places, first match wins:

1. an environment variable: the secret's name exactly, then its shell form (upper-cased,
   every character other than a letter, digit or ``_`` made ``_``: ``openai-key`` ->
   ``OPENAI_KEY``). Labs name secrets after the variable the provider's library reads, so a
   key a student has already exported works unchanged, and a variable wins over the file so
   that one run can use another key without editing anything. An empty variable counts as
   unset (``export KEY=`` is usually a slip, and should not hide the file's value);
2. the store's secrets file, ``<store>/secrets.json``: what ``create_secret`` writes. The
   store folder is git-ignored, the file is readable by its owner only (0600), and it is
   replaced atomically (temporary file, then rename) under a lock, so two processes
   creating secrets at once both keep theirs.

A secret's value is never shown: ``repr`` of a `Secret` gives its name and source only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent create_secret calls may lose one
    fcntl = None

from fti.exceptions import ParameterError, SecretExistsError, SecretNotFoundError, SecretsFileError
from fti.store import arguments

__all__ = ["SECRETS_FILE", "Secret", "SecretsApi", "environment_names"]

SECRETS_FILE = "secrets.json"
_SHELL_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_FROM_ENVIRONMENT = "environment variable "


def environment_names(name: str) -> list[str]:
    """The environment variables that may hold secret ``name``, in the order they are tried.

    Args:
        name: The secret's name.

    Returns:
        ``[name]``, followed by its shell form (upper case, other characters made ``_``) when that differs.
    """
    shell_form = _SHELL_UNSAFE.sub("_", name).upper()
    return [name] if shell_form == name else [name, shell_form]


class Secret:
    """A secret: a name and a value, from an environment variable or the store's secrets file.

    Get one from `SecretsApi.get_secret`; do not build it yourself.

    Attributes:
        source: Where the value came from: ``"environment variable NAME"`` or the secrets file's path.
    """

    def __init__(self, api: SecretsApi, name: str, value: str, source: str, record: dict[str, Any] | None = None):
        self._api = api
        self._name = name
        self._value = value
        self.source = source
        self._record = record or {}

    @property
    def name(self) -> str:
        """The secret's name."""
        return self._name

    @property
    def value(self) -> str:
        """The secret's value (never printed by the kit)."""
        return self._value

    @property
    def created(self) -> str | None:
        """When ``create_secret`` wrote it (ISO time, UTC); None for a secret only in an environment variable."""
        return self._record.get("created")

    @property
    def visibility(self) -> str:
        """``"PRIVATE"``, or ``"PROJECT"`` when created with ``project=...`` (recorded only: one user here)."""
        return self._record.get("visibility", "PRIVATE")

    @property
    def scope(self) -> str | None:
        """The project it was shared with (``create_secret(project=...)``), else None."""
        return self._record.get("scope")

    @property
    def owner(self) -> str | None:
        """The local user who created it; None for a secret only in an environment variable."""
        return self._record.get("owner")

    def get_url(self) -> str:
        """Where the secret lives: ``file://.../secrets.json#name``, or ``env:NAME`` for an environment variable."""
        if self.source.startswith(_FROM_ENVIRONMENT):
            return f"env:{self.source.removeprefix(_FROM_ENVIRONMENT)}"
        return f"{self._api.path.as_uri()}#{self._name}"

    def delete(self) -> None:
        """Delete the secret from the store's secrets file.

        Raises:
            SecretNotFoundError: It is not in the file (already deleted).
            SecretsFileError: It is only in an environment variable, which only its shell can unset.
        """
        if not self._record:
            raise SecretsFileError(
                f"secret '{self._name}' comes from the {self.source}, not from the secrets file; "
                f"unset it in the shell or notebook environment that sets it"
            )
        self._api._delete(self._name)

    def __repr__(self) -> str:
        # Never the value: a repr ends up in notebook outputs, logs and tracebacks.
        return f"Secret(name={self._name!r}, source={self.source!r})"


class SecretsApi:
    """``hopsworks.get_secrets_api()``: secrets from environment variables, then ``<store>/secrets.json``.

    Args:
        store_path: The store folder; the secrets file is ``secrets.json`` inside it.
    """

    def __init__(self, store_path: str | os.PathLike[str]):
        self._folder = Path(store_path).expanduser().resolve()
        self.path = self._folder / SECRETS_FILE

    def __repr__(self) -> str:
        return f"SecretsApi({str(self.path)!r})"

    def get_secret(self, name: str, owner: str | None = None) -> Secret:
        """Get a secret (an environment variable wins over the secrets file).

        Args:
            name: The secret's name.
            owner: Hopsworks reads a secret another user shared with the project; here there
                is one user, so the secret of that name is the one in this store (accepted, unused).

        Returns:
            The `Secret`; its ``value`` is the text.

        Raises:
            SecretNotFoundError: Neither an environment variable nor the file has it (Hopsworks
                returns None here; the error says how to provide the secret instead).
            SecretsFileError: The secrets file is damaged.
        """
        name = self._name(name, "get_secret")
        del owner
        for variable in environment_names(name):
            value = os.environ.get(variable)
            if value:
                return Secret(self, name, value, f"{_FROM_ENVIRONMENT}{variable}")
        record = self._read().get(name)
        if record is None:
            variables = " or ".join(environment_names(name))
            raise SecretNotFoundError(
                f"secret '{name}' is not set: set the environment variable {variables} "
                f"(e.g. in the shell that starts Jupyter), or store it once with "
                f"fti.get_secrets_api().create_secret({name!r}, '<value>'), which writes {self.path}"
            )
        return Secret(self, name, record["value"], str(self.path), record)

    def get(self, name: str, owner: str | None = None) -> str:
        """The secret's value: ``get_secret(name).value``.

        Hopsworks prompts for a missing secret when run interactively; notebooks here also
        run unattended (``fti run``), where a prompt would hang, so a missing one raises.

        Raises:
            SecretNotFoundError: The secret is not set (the message says how to set it).
        """
        return self.get_secret(name, owner).value

    def get_secrets(self) -> list[Secret]:
        """All secrets of the secrets file, sorted by name, with an environment variable's value where one is set.

        Environment variables alone are not listed: most of them (``PATH``, ``HOME``) are no secrets.
        """
        secrets = []
        for name, record in sorted(self._read().items()):
            secret = next(
                (Secret(self, name, os.environ[variable], f"{_FROM_ENVIRONMENT}{variable}", record)
                 for variable in environment_names(name) if os.environ.get(variable)),
                None,
            )
            secrets.append(secret or Secret(self, name, record["value"], str(self.path), record))
        return secrets

    def create_secret(self, name: str, value: str, project: str | None = None) -> Secret:
        """Store a new secret in the store's secrets file.

        Args:
            name: The secret's name.
            value: The secret's value.
            project: Hopsworks shares the secret with that project; here there is one user and
                one project per store, so it is only recorded (``Secret.scope``).

        Returns:
            The new `Secret`.

        Raises:
            SecretExistsError: The file already holds a secret of that name (delete it first:
                ``get_secret(name).delete()``).
            SecretsFileError: The file is damaged or cannot be written.
        """
        name = self._name(name, "create_secret")
        value = arguments.text(value, "value", f"create_secret({name!r})")
        if project is not None:
            project = arguments.text(project, "project", f"create_secret({name!r})")
        record = {
            "value": value,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "visibility": "PRIVATE" if project is None else "PROJECT",
            "scope": project,
            "owner": _local_user(),
        }
        with self._locked():
            secrets = self._read()
            if name in secrets:
                raise SecretExistsError(
                    f"secret '{name}' already exists in {self.path}; nothing was written. To replace it, "
                    f"delete it first: secrets_api.get_secret({name!r}).delete()"
                )
            secrets[name] = record
            self._write(secrets)
        shadowing = [variable for variable in environment_names(name) if os.environ.get(variable)]
        if shadowing:
            warnings.warn(
                f"secret '{name}' was written to {self.path}, but the environment variable {shadowing[0]} "
                f"is set and wins when the secret is read; unset it to use the stored value",
                UserWarning, stacklevel=2,
            )
        return Secret(self, name, value, str(self.path), record)

    def _delete(self, name: str) -> None:
        with self._locked():
            secrets = self._read()
            if name not in secrets:
                raise SecretNotFoundError(f"secret '{name}' is not in {self.path}: nothing to delete")
            del secrets[name]
            self._write(secrets)

    @staticmethod
    def _name(name: Any, where: str) -> str:
        name = arguments.text(name, "name", where)
        if not name.strip():
            raise ParameterError(f"{where}: a secret's name cannot be empty; give the name it was created with")
        return name

    def _read(self) -> dict[str, dict[str, Any]]:
        """The file's secrets, ``{name: record}``; empty when there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SecretsFileError(f"secrets file {self.path} cannot be read: {exc.strerror or exc}") from None
        try:
            secrets = json.loads(text)
        except json.JSONDecodeError as exc:
            # The message must not quote the file: it holds secrets.
            raise SecretsFileError(
                f"secrets file {self.path} is not valid JSON (line {exc.lineno}); fix it or move it "
                f"aside and create the secrets again"
            ) from None
        if not isinstance(secrets, dict) or not all(
            isinstance(record, dict) and isinstance(record.get("value"), str) for record in secrets.values()
        ):
            raise SecretsFileError(
                f"secrets file {self.path} is not an object of name -> {{\"value\": text, ...}}; "
                f"fix it or move it aside and create the secrets again"
            )
        return secrets

    def _write(self, secrets: dict[str, dict[str, Any]]) -> None:
        """Replace the file in one step: a reader sees the old secrets or the new ones, never half a file."""
        self._folder.mkdir(parents=True, exist_ok=True)
        # mkstemp creates the file readable and writable by its owner only (0600).
        handle, temporary = tempfile.mkstemp(prefix=f".{SECRETS_FILE}.", suffix=".tmp", dir=self._folder)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(secrets, file, indent=2, sort_keys=True)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise SecretsFileError(f"secrets file {self.path} cannot be written: {exc.strerror or exc}") from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold ``secrets.json.lock`` for a read-modify-write, so two processes do not lose each other's secret."""
        self._folder.mkdir(parents=True, exist_ok=True)
        with open(self._folder / f"{SECRETS_FILE}.lock", "a+b") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(lock, fcntl.LOCK_UN)


def _local_user() -> str | None:
    """The local login name, recorded as the secret's owner (None where the system cannot say)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
