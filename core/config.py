"""Settings for a calspot home: one frozen object, read from a file and the environment.

A *home* is the folder that holds one deployment's state: ``calspot.toml`` (optional
settings) and, by default, the SQLite store ``calspot.sqlite``. Every setting can also
be given as an environment variable ``CALSPOT_<NAME>`` (upper case), which wins over
the file, and explicit overrides passed by the caller win over both.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SETTINGS_FILE = "calspot.toml"
DEFAULT_DATABASE = "calspot.sqlite"
ENV_PREFIX = "CALSPOT_"
# The maps of frames calspot can draw (core.maps), named here so that reading the settings imports no numpy.
MAP_METHODS = ("umap", "tsne", "pca")


def default_home() -> Path:
    """The home used when none is given: ``$CALSPOT_HOME`` or ``~/.calspot``."""
    return Path(os.environ.get("CALSPOT_HOME", Path.home() / ".calspot")).expanduser()


@dataclass(frozen=True)
class Settings:
    """Everything that changes what calspot computes or where it keeps it.

    Parameters
    ----------
    home
        Folder of this deployment (settings file, SQLite store, caches).
    database_url
        SQLAlchemy URL of the store; empty means a SQLite file in ``home``.
    night_offset_hours
        A night is the calendar date of the observation time in UT minus this many
        hours (12 suits sites in the Americas and Europe; set per site).
    rules_dirs
        Extra folders of header-rule files, searched before the built-in rules.
    embedder
        Name of the registered embedder that describes images.
    weights
        ``auto``, ``imagenet``, ``random`` (seeded) or a path to a Keras weights file.
    seed
        Seed of everything random (random weights, maps, simulations).
    input_size
        Side in pixels of the square network input an image is reduced to.
    batch_size
        Images per network call.
    workers
        Processes that read and describe files; 0 chooses from the CPU count.
    history_nights
        How many earlier nights of a type form its reference.
    min_reference
        Fewest reference images of a type and mode before it is scored against history.
    neighbours
        Nearest reference descriptors averaged into the descriptor distance.
    map_methods
        Maps (``umap``, ``tsne``, ``pca``) the nightly ingest computes for the newest night
        it scored; empty computes none (the dashboard then computes them on demand).
    map_history_per_type
        Most frames of each image type and mode sampled from the history into a map.
    auth
        Who may review: ``none`` (a single-user home: any name may be typed),
        ``password`` (reviewer accounts of ``calspot reviewers``) or ``oidc`` (the
        site's identity provider through Streamlit's ``st.login``, its users mapped to
        reviewer accounts).
    session_idle_minutes
        A dashboard session without a click for this long is logged out.
    data_roots
        Folders whose raw files the dashboard may offer for download (a frame's file
        the store holds, its real location under one of them); empty: any file the
        store holds.
    """

    home: Path = field(default_factory=default_home)
    database_url: str = ""
    night_offset_hours: float = 12.0
    rules_dirs: tuple[Path, ...] = ()
    embedder: str = "resnet50"
    weights: str = "auto"
    seed: int = 0
    input_size: int = 224
    batch_size: int = 16
    workers: int = 0
    history_nights: int = 30
    min_reference: int = 5
    neighbours: int = 3
    map_methods: tuple[str, ...] = ("umap", "tsne", "pca")
    map_history_per_type: int = 200
    auth: str = "none"
    session_idle_minutes: float = 30.0
    data_roots: tuple[Path, ...] = ()

    @property
    def store_url(self) -> str:
        """The SQLAlchemy URL of the store (SQLite in the home unless configured)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(Path(self.home) / DEFAULT_DATABASE).resolve()}"

    @property
    def worker_count(self) -> int:
        """Worker processes to use: the configured number, or one per CPU."""
        if self.workers > 0:
            return self.workers
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (values are coerced like file values)."""
        return dataclasses.replace(self, **_coerce(changes))


def _coerce(values: Mapping[str, Any]) -> dict[str, Any]:
    """Convert raw values (strings from the environment, TOML values) to field types."""
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in fields:
            raise ValueError(f"unknown setting {name!r}; known: {', '.join(sorted(fields))}")
        default = getattr(Settings(home=Path(".")), name)
        if name == "home":
            out[name] = Path(value).expanduser()
        elif name in ("rules_dirs", "data_roots"):
            items = value.split(os.pathsep) if isinstance(value, str) else value
            out[name] = tuple(Path(v).expanduser() for v in items if str(v))
        elif name == "map_methods":
            out[name] = _map_methods(value)
        elif name == "auth":
            out[name] = _auth_mode(value)
        elif isinstance(default, bool):
            out[name] = str(value).lower() in {"1", "true", "yes", "on"}
        elif isinstance(default, int):
            out[name] = int(value)
        elif isinstance(default, float):
            out[name] = float(value)
        else:
            out[name] = str(value)
    return out


def _map_methods(value: str | Sequence[str]) -> tuple[str, ...]:
    """Map methods from a comma-separated string or a list; ``none`` (or nothing) means none."""
    items = value.split(",") if isinstance(value, str) else value
    methods = tuple(str(v).strip().lower() for v in items if str(v).strip() and str(v).strip().lower() != "none")
    unknown = [m for m in methods if m not in MAP_METHODS]
    if unknown:
        raise ValueError(f"unknown map method {unknown[0]!r} in map_methods; known: {', '.join(MAP_METHODS)}")
    return methods


def _auth_mode(value: str) -> str:
    from .accounts import AUTH_MODES

    mode = str(value).strip().lower()
    if mode not in AUTH_MODES:
        raise ValueError(f"unknown auth {value!r}; one of {', '.join(AUTH_MODES)}")
    return mode


def load_settings(home: str | Path | None = None, **overrides: Any) -> Settings:
    """Read the settings of a home.

    Parameters
    ----------
    home
        The home folder; ``None`` means ``$CALSPOT_HOME`` or ``~/.calspot``.
    **overrides
        Settings that win over the file and the environment (e.g. from CLI options).

    Returns
    -------
    Settings
        The frozen settings, with ``home`` made absolute.
    """
    home_path = Path(home).expanduser() if home is not None else default_home()
    values: dict[str, Any] = {}
    settings_file = home_path / SETTINGS_FILE
    if settings_file.is_file():
        with settings_file.open("rb") as fh:
            document = tomllib.load(fh)
        values.update(document.get("calspot", document))
    names = {f.name for f in dataclasses.fields(Settings)} - {"home"}
    for name in names:
        env = os.environ.get(ENV_PREFIX + name.upper())
        if env is not None and env != "":
            values[name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["home"] = home_path.resolve()
    return Settings(**_coerce(values))
