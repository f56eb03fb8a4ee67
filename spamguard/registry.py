"""The model registry on disk: versions, the CURRENT pointer, verification at load.

Layout::

    models/CURRENT                       name of the current version (replaced atomically)
    models/HISTORY                       one line per promotion, for rollback
    models/versions/<version>/model.joblib
    models/versions/<version>/manifest.json
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ARTIFACT = "model.joblib"
MANIFEST = "manifest.json"
CURRENT = "CURRENT"
HISTORY = "HISTORY"
VERSIONS = "versions"

_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
PROMOTE_HINT = "make a version current with `spamguard models promote VERSION` (see `spamguard models list`)"


class ModelError(Exception):
    """A model that cannot be found, verified or loaded; the message says what to do."""


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a new, renamed or removed entry of the directory `path` survive a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_version_dir(path: Path) -> bool:
    """Tell whether a directory holds one model version."""
    return (path / MANIFEST).is_file()


def current_version(root: Path) -> str | None:
    """Return the name of the current version of a registry, or None if there is none.

    CURRENT that does not hold a version name (a hand edit, a bad deploy: `../../etc`, binary junk)
    raises ModelError: such a name is never joined to a path, so no model is loaded from outside
    the registry.
    """
    pointer = root / CURRENT
    try:
        raw = pointer.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ModelError(f"cannot read {pointer}: {exc}") from exc
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ModelError(f"{pointer} is not a version name (not UTF-8 text): {PROMOTE_HINT}") from None
    if name and not _VERSION_NAME.match(name):
        raise ModelError(f"{pointer} names {name[:200]!r}, which is not a version name: {PROMOTE_HINT}")
    return name or None


def resolve(path: str | os.PathLike[str]) -> Path:
    """Return the version directory that a registry or version path designates."""
    path = Path(path)
    if is_version_dir(path):
        return path
    if path.is_file():
        raise ModelError(
            f"{path} is a file, not a model: give the registry that `spamguard train --out` wrote "
            "(default models/)"
        )
    name = current_version(path)
    if name is None:
        if not path.exists():
            raise ModelError(f"no model registry at {path}: run `spamguard train data/` first")
        raise ModelError(f"{path} has no current model: run `spamguard train data/` first")
    version_dir = path / VERSIONS / name
    if not is_version_dir(version_dir):
        raise ModelError(f"{path / CURRENT} names {name!r}, which is not in {path / VERSIONS}")
    return version_dir


def list_versions(root: Path) -> list[dict[str, Any]]:
    """Return the manifests of every version in a registry, oldest first."""
    versions_dir = root / VERSIONS
    if not versions_dir.is_dir():
        return []
    manifests = []
    for d in sorted(versions_dir.iterdir()):
        if is_version_dir(d):
            try:
                manifests.append(json.loads((d / MANIFEST).read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
    return sorted(manifests, key=lambda m: str(m.get("created", "")))


def new_version_name(artifact_sha256: str) -> str:
    """Name a version by its creation time and the start of its artifact's hash."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%S") + "-" + artifact_sha256[:6]


def version_dir(root: Path, version: str) -> Path:
    """Return the directory of a named version, refusing names that are not version names."""
    path = root / VERSIONS / version
    if not _VERSION_NAME.match(version) or not path.is_dir():
        shown = version[:200]
        raise ModelError(f"version {shown!r} is not in {root / VERSIONS}: see `spamguard models list`")
    if not is_version_dir(path):
        raise ModelError(f"version {version!r} has no {MANIFEST} in {path}: retrain or roll back")
    return path


def promote(root: Path, version: str) -> None:
    """Make a version current (atomically) and record it in the history."""
    version_dir(root, version)
    write_atomic(root / CURRENT, (version + "\n").encode())
    with open(root / HISTORY, "a", encoding="utf-8") as fh:
        fh.write(f"{datetime.now(UTC).isoformat()} {version}\n")


def promoted(root: Path) -> list[str]:
    """Return the versions HISTORY records as made current, oldest first (names as written)."""
    try:
        return (root / HISTORY).read_text(encoding="utf-8", errors="replace").split()[1::2]
    except FileNotFoundError:
        return []


def rollback(root: Path) -> str:
    """Make the version that was current before the present one current again."""
    try:
        current = current_version(root)
    except ModelError:  # a broken CURRENT is what rollback is for
        current = None
    history = [v for v in promoted(root) if v != current]
    while history:
        candidate = history.pop()
        try:
            promote(root, candidate)  # refuses a name that is not a version here, before writing
        except ModelError:
            continue
        return candidate
    raise ModelError(f"{root} has no earlier version to roll back to")


def read_manifest(version_dir: Path) -> dict[str, Any]:
    """Read a version's manifest, or raise ModelError saying what is wrong."""
    try:
        manifest = json.loads((version_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {version_dir / MANIFEST}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ModelError(f"{version_dir / MANIFEST} is not a JSON object")
    return manifest


def verify(version_dir: Path) -> dict[str, Any]:
    """Check a version's artifact hash and library versions; return its manifest."""
    import sklearn

    manifest = read_manifest(version_dir)
    artifact = version_dir / ARTIFACT
    if not artifact.is_file():
        raise ModelError(f"{artifact} is missing: retrain or roll back")
    actual = sha256_file(artifact)
    if actual != manifest.get("sha256"):
        raise ModelError(
            f"{artifact} does not match its manifest (sha256 {actual[:12]}…, expected "
            f"{str(manifest.get('sha256'))[:12]}…): the file was altered or truncated; retrain or roll back"
        )
    libraries = manifest.get("libraries")
    if not isinstance(libraries, dict):
        raise ModelError(f"{version_dir / MANIFEST} does not say which libraries trained it: retrain")
    trained_with = libraries.get("scikit-learn")
    if trained_with != sklearn.__version__:
        raise ModelError(
            f"{version_dir.name} was trained with scikit-learn {trained_with}, this is "
            f"{sklearn.__version__}: install scikit-learn=={trained_with} or retrain"
        )
    return manifest
