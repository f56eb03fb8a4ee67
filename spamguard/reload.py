"""The model a worker serves, and the thread that swaps in a newly promoted version.

Requests read `holder.model` once and use that object to the end, so a swap (one attribute
assignment) never mixes two versions in one answer. Loading and verifying happen on the
reloader thread, never on a request.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from spamguard import registry
from spamguard.metrics import Metrics
from spamguard.model import Model, load_model

log = logging.getLogger(__name__)
# Earlier versions tried when the current one is refused and nothing is loaded yet.
MAX_FALLBACKS = 3


class ModelHolder:
    """The current model of one worker (None until one loads) and why there is none."""

    def __init__(self, path: Path, metrics: Metrics) -> None:
        self.path = Path(path)
        self.metrics = metrics
        self.model: Model | None = None
        self.error: str | None = None
        self._refused: tuple[str, int, int] | None = None
        self._lock = threading.Lock()

    @property
    def follows_registry(self) -> bool:
        """Tell whether the path is a registry (whose CURRENT may move) rather than one version."""
        return not registry.is_version_dir(self.path)

    def load(self) -> bool:
        """Load the current version now if it differs from the served one; return True on a switch."""
        with self._lock:
            return self._load()

    def _load(self) -> bool:
        if self.follows_registry:
            try:
                name = registry.current_version(self.path)
            except registry.ModelError as exc:  # CURRENT itself is unusable: nothing to load from it
                return self._refuse((registry.CURRENT, _mtime(self.path / registry.CURRENT), 0), exc)
            if name is None:
                if self.model is None:
                    self.error = f"no current model in {self.path}: run `spamguard train`"
                return False
            if self.model is not None and self.model.version_dir is not None \
                    and self.model.version_dir.name == name:  # fmt: skip
                return False
            stamp = _stamp(self.path / registry.VERSIONS / name)
        else:
            if self.model is not None:
                return False
            stamp = _stamp(self.path)
        if stamp == self._refused:
            return False  # already refused this exact version; it has not changed since
        try:
            # A version's directory by its name, never resolved again as a registry.
            target = registry.version_dir(self.path, stamp[0]) if self.follows_registry else self.path
            model = load_model(target)
        except registry.ModelError as exc:
            return self._refuse(stamp, exc)
        return self._serve(model)

    def _refuse(self, stamp: tuple[str, int, int], exc: registry.ModelError) -> bool:
        """Count and log a refused version; keep the served model, or fall back to an earlier one."""
        if stamp == self._refused:
            return False
        self._refused = stamp
        self.metrics.reloads.labels("refused").inc()
        if self.model is not None:
            log.error("refused model %s, still serving %s: %s", stamp[0], self.model.version, exc)
            return False
        fallback = self._fallback(stamp[0]) if self.follows_registry else None
        if fallback is None:
            self.error = str(exc)
            log.error("no model loaded: %s", exc)
            return False
        log.error("refused model %s, serving %s, current before it: %s", stamp[0], fallback.version, exc)
        return self._serve(fallback)

    def _serve(self, model: Model) -> bool:
        old = self.model
        self.model, self.error = model, None
        self.metrics.set_model(old.version if old else None, model.version)
        self.metrics.reloads.labels("loaded").inc()
        log.info("serving model %s%s", model.version, f" (was {old.version})" if old else "")
        return True

    def _fallback(self, refused: str) -> Model | None:
        """Load the most recent earlier current version that verifies (a worker starting while
        CURRENT names a refused version serves what its siblings kept serving)."""
        try:
            history = registry.promoted(self.path)
        except OSError:
            return None
        tried: set[str] = {refused}
        for name in reversed(history):
            if name in tried or len(tried) > MAX_FALLBACKS:
                continue
            tried.add(name)
            try:
                return load_model(registry.version_dir(self.path, name))
            except registry.ModelError as exc:
                log.warning("earlier version %s is not usable either: %s", name, exc)
        return None


def _stamp(version_dir: Path) -> tuple[str, int, int]:
    """Identify a version's files on disk, so a fixed (re-written) version is tried again."""
    manifest, artifact = version_dir / registry.MANIFEST, version_dir / registry.ARTIFACT
    return (version_dir.name, _mtime(manifest), _mtime(artifact))


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0
