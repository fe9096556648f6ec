"""Header rules: how FITS header keywords map to instrument, arm, category, mode and image type.

The mapping is data, not code, from two sources:

- one TOML file per instrument in this folder (or in folders named by the ``rules_dirs``
  setting), read by :mod:`core.rules.header_rules`: UVES, Kast, and generic rules for any
  instrument that writes IMAGETYP / OBSTYPE / OBJECT;
- the classification rules that ESO's pipelines install (OCA files, read by
  :mod:`core.rules.oca`), for every ESO instrument whose pipeline is installed and that has
  no TOML file of ours (:mod:`core.rules.eso_pipelines`, configured by ``eso_pipelines.toml``).

Rule sets are tried by descending priority; the first whose ``match`` holds types the image.
Image types are named like the proof of concept: ``UVES_RED_BIAS_ext1`` = instrument, arm,
label of the category rule, extension number.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from .eso_pipelines import eso_pipeline_rules
from .header_rules import (
    CALIBRATION_CATEGORIES,
    CATEGORIES,
    FILENAME_KEYWORD,
    UNKNOWN_INSTRUMENT,
    UNKNOWN_LABEL,
    Header,
    HeaderView,
    ImageIdentity,
    RulesError,
    sanitize,
    toml_rules,
)

BUILTIN_DIR = Path(__file__).resolve().parent

__all__ = [
    "BUILTIN_DIR",
    "CALIBRATION_CATEGORIES",
    "CATEGORIES",
    "UNKNOWN_INSTRUMENT",
    "ImageIdentity",
    "RuleSet",
    "RulesError",
    "identify",
    "load_rules",
    "sanitize",
]


class RuleSet(Protocol):
    """The rules of one instrument: which headers they apply to, and what they say an image is."""

    name: str
    priority: int
    path: Path

    def matches(self, header: Header) -> bool: ...

    def identify(self, header: HeaderView, ext: int) -> ImageIdentity: ...


def _load_document(path: Path, known: Mapping[str, Path], seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        raise RulesError(f"{path}: 'extends' loops back on itself")
    try:
        with path.open("rb") as fh:
            document = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: {exc}") from exc
    parent_name = document.get("extends")
    if not parent_name:
        return document
    if parent_name not in known:
        raise RulesError(f"{path}: extends unknown rules {parent_name!r}")
    merged = _load_document(known[parent_name], known, (*seen, path))
    merged.update({k: v for k, v in document.items() if k != "extends"})
    return merged


def _rule_sets(path: Path, known: Mapping[str, Path]) -> list[RuleSet]:
    document = _load_document(path, known)
    if "oca" in document:
        return eso_pipeline_rules(document, path)
    return [toml_rules(document, path)]


@lru_cache(maxsize=16)
def load_rules(extra_dirs: tuple[Path, ...] = ()) -> tuple[RuleSet, ...]:
    """Load every rules file, most specific (highest priority) first.

    Parameters
    ----------
    extra_dirs
        Folders searched before the built-in rules; a file there replaces a built-in
        file of the same name.

    Returns
    -------
    tuple of RuleSet
        Sorted by descending priority; the generic rules (priority 0) come last. A
        document with an ``oca`` list gives one rule set per ESO pipeline installed.
    """
    files: dict[str, Path] = {}
    for folder in (BUILTIN_DIR, *extra_dirs):
        for path in sorted(Path(folder).glob("*.toml")):
            files[path.stem] = path
    rule_sets = [rules for path in files.values() for rules in _rule_sets(path, files)]
    return tuple(sorted(rule_sets, key=lambda r: (-r.priority, r.name)))


def identify(header: Header, ext: int, rule_sets: Iterable[RuleSet], filename: str = "") -> ImageIdentity:
    """Say what an image extension is, from its (merged) header.

    Parameters
    ----------
    header
        The image's header with the primary header's cards underneath.
    ext
        The extension number (part of the image type name).
    rule_sets
        Rules from :func:`load_rules`; the first that matches the header is used.
    filename
        The file's name, offered to rules as the pseudo-keyword ``_FILENAME``.

    Returns
    -------
    ImageIdentity
        Instrument ``UNKNOWN`` when no rule names one; category ``unknown`` when no
        category rule holds.
    """
    view = HeaderView(header, {FILENAME_KEYWORD: filename})
    rules = next((r for r in rule_sets if r.matches(view)), None)
    if rules is None:
        return ImageIdentity(UNKNOWN_INSTRUMENT, "", "unknown", UNKNOWN_LABEL, "", f"UNKNOWN_ext{ext}", "", "")
    return rules.identify(view, ext)
