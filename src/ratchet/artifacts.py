"""The artifact store: named files and folders in the run directory, with the test seal.

Steps never receive paths from globals; they ask their ``ArtifactView`` for the
keys they declared. The view enforces the declaration and refuses ``data.test``
to every step but ``evaluate`` - the seal that keeps the final number honest.
"""

from __future__ import annotations

from pathlib import Path

from ratchet.errors import SealedArtifactError

SEALED_KEY = "data.test"
SEAL_HOLDER = "evaluate"
SPENT_SEAL_READERS = ("refit_all",)
"""Steps that may read the test split once evaluate has scored it (the recipe check puts them after it:
they require evaluate's ``metrics``): --refit-all trains on those rows after the sealed evaluation."""


class ArtifactStore:
    """Artifact key -> path of the latest accepted value."""

    def __init__(self) -> None:
        self._paths: dict[str, Path] = {}

    def put(self, key: str, path: Path) -> None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"artifact {key!r} points at a missing path: {path}")
        self._paths[key] = path

    def has(self, key: str) -> bool:
        return key in self._paths

    def path(self, key: str) -> Path | None:
        return self._paths.get(key)

    def snapshot(self) -> dict[str, Path]:
        return dict(self._paths)

    def view(self, step_name: str, requires: tuple[str, ...], optional: tuple[str, ...] = ()) -> ArtifactView:
        return ArtifactView(self, step_name, requires, optional)


class ArtifactView:
    """What one step may see: its declared inputs, and the test split only for ``evaluate``."""

    def __init__(
        self, store: ArtifactStore, step_name: str, requires: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> None:
        self._store = store
        self._step = step_name
        self._declared = (*requires, *optional)

    @property
    def declared(self) -> tuple[str, ...]:
        """The keys this step declared (requires, then optional)."""
        return self._declared

    def get(self, key: str) -> Path:
        path = self.maybe(key)
        if path is None:
            raise KeyError(f"step {self._step!r} needs artifact {key!r}, but no earlier step provided it")
        return path

    def maybe(self, key: str) -> Path | None:
        spent = self._step in SPENT_SEAL_READERS and self._store.has("metrics")
        if key == SEALED_KEY and self._step != SEAL_HOLDER and not spent:
            raise SealedArtifactError(
                f"step {self._step!r} asked for the sealed test split: only {SEAL_HOLDER!r} may read it"
            )
        if key not in self._declared:
            raise KeyError(f"step {self._step!r} did not declare {key!r} in requires or optional")
        return self._store.path(key)
