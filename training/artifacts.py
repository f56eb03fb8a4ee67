"""Write a fitted model as a new registry version, atomically, with its manifest."""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib

from spamguard import registry
from spamguard.model import Model

LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib", "pandas", "spamguard")


def library_versions() -> dict[str, str]:
    """Return the versions of the libraries a model depends on."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_version(root: Path, model: Model, extra: dict[str, Any], *, make_current: bool = True) -> Path:
    """Save a model as a new version under `root` and (by default) make it current.

    The version is built in a temporary directory and renamed into place, so a crash leaves
    either nothing or a complete version; CURRENT moves only after that.
    """
    versions = root / registry.VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=versions, prefix=".staging-"))
    try:
        artifact = staging / registry.ARTIFACT
        joblib.dump(model.to_artifact(), artifact, compress=3)
        with open(artifact, "rb") as fh:
            os.fsync(fh.fileno())
        digest = registry.sha256_file(artifact)
        version = registry.new_version_name(digest)
        manifest = {
            **model.manifest,
            **extra,
            # What identifies and verifies this file comes last: a model loaded from another
            # version carries that version's name and hash in its manifest.
            "version": version,
            "created": datetime.now(UTC).isoformat(),
            "sha256": digest,
            "libraries": library_versions(),
            "feature_space": model.space.to_dict(),
            "thresholds": model.thresholds.to_dict(),
            "calibration": list(model.calibration),
        }
        text = json.dumps(manifest, indent=2, default=str)
        registry.write_atomic(staging / registry.MANIFEST, text.encode())
        final = versions / version
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if make_current:
        registry.promote(root, version)
    return final
