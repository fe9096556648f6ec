"""Header rules: how FITS header keywords map to instrument, arm, category, mode and image type.

The mapping is data, not code: one TOML file per instrument in this folder (or in
folders named by the ``rules_dirs`` setting). A file says which headers it applies to
(``[match]``), how to name the instrument and the arm, an ordered list of category
rules (the first whose conditions all hold wins) and which keywords make up the
instrument *mode* (grating, binning ...). A file may ``extends`` another to reuse its
rules. Conditions are case-insensitive regular expressions searched in the keyword's
value, or numeric bounds ``{ min = ..., max = ... }``. The pseudo-keyword ``_FILENAME``
is the file's name, for observatories whose headers say nothing useful.

Image types are named like the proof of concept: ``UVES_RED_BIAS_ext1`` =
instrument, arm, label of the category rule, extension number.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

BUILTIN_DIR = Path(__file__).resolve().parent
CATEGORIES = ("bias", "flat", "arc", "dark", "science", "unknown")
CALIBRATION_CATEGORIES = frozenset({"bias", "flat", "arc", "dark"})
UNKNOWN_INSTRUMENT = "UNKNOWN"

Header = Mapping[str, Any]


class RulesError(ValueError):
    """A rules file is malformed."""


@dataclass(frozen=True)
class Condition:
    """One keyword test: a regular expression on the text, or numeric bounds."""

    keyword: str
    pattern: re.Pattern[str] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def holds(self, header: Header) -> bool:
        """Whether the header's value of the keyword passes this test."""
        value = header.get(self.keyword)
        if value is None or (isinstance(value, str) and not value.strip()):
            return False
        if self.pattern is not None:
            return bool(self.pattern.search(str(value).strip()))
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        if self.minimum is not None and number < self.minimum:
            return False
        return self.maximum is None or number <= self.maximum


@dataclass(frozen=True)
class ValueRule:
    """A named value chosen when conditions hold: a fixed value or a keyword's value."""

    conditions: tuple[Condition, ...]
    value: str | None = None
    source: tuple[str, ...] = ()

    def apply(self, header: Header) -> str | None:
        if not all(c.holds(header) for c in self.conditions):
            return None
        if self.value is not None:
            return self.value
        for keyword in self.source:
            text = header.get(keyword)
            if text is not None and str(text).strip():
                return sanitize(str(text))
        return None


@dataclass(frozen=True)
class CategoryRule:
    """Conditions that make an image a category, with the label used in type names."""

    conditions: tuple[Condition, ...]
    category: str
    label: str
    source: str

    def holds(self, header: Header) -> bool:
        return all(c.holds(header) for c in self.conditions)


@dataclass(frozen=True)
class ModeKeyword:
    """A keyword that is part of the instrument mode for some categories."""

    keyword: str
    name: str
    categories: frozenset[str]


@dataclass(frozen=True)
class RuleSet:
    """The rules of one instrument (one TOML file, with what it extends)."""

    name: str
    priority: int
    match: tuple[Condition, ...]
    instrument: tuple[ValueRule, ...]
    arm: tuple[ValueRule, ...]
    categories: tuple[CategoryRule, ...]
    mode: tuple[ModeKeyword, ...]
    path: Path

    def matches(self, header: Header) -> bool:
        return all(c.holds(header) for c in self.match)


@dataclass(frozen=True)
class ImageIdentity:
    """What the header says an image is."""

    instrument: str
    arm: str
    category: str
    label: str
    mode: str
    image_type: str
    rules: str
    category_source: str

    @property
    def is_calibration(self) -> bool:
        return self.category in CALIBRATION_CATEGORIES


def sanitize(text: str) -> str:
    """Upper-case a header value and keep it safe inside a type name (``Apogee Alta`` -> ``APOGEE_ALTA``)."""
    return re.sub(r"[^A-Z0-9]+", "_", text.strip().upper()).strip("_")


def _conditions(table: Mapping[str, Any] | None, where: str) -> tuple[Condition, ...]:
    out = []
    for keyword, test in (table or {}).items():
        if isinstance(test, str):
            try:
                out.append(Condition(keyword, pattern=re.compile(test, re.IGNORECASE)))
            except re.error as exc:
                raise RulesError(f"{where}: bad pattern for {keyword}: {exc}") from exc
        elif isinstance(test, Mapping) and set(test) <= {"min", "max"}:
            out.append(Condition(keyword, minimum=test.get("min"), maximum=test.get("max")))
        else:
            raise RulesError(f"{where}: condition on {keyword} must be a pattern or {{min, max}}")
    return tuple(out)


def _value_rules(items: Any, where: str) -> tuple[ValueRule, ...]:
    if isinstance(items, Mapping):
        items = [items]
    rules = []
    for i, item in enumerate(items or []):
        source = item.get("from", ())
        rules.append(
            ValueRule(
                conditions=_conditions(item.get("when"), f"{where}[{i}]"),
                value=item.get("value"),
                source=(source,) if isinstance(source, str) else tuple(source),
            )
        )
    return tuple(rules)


def _category_rules(items: Sequence[Mapping[str, Any]], where: str) -> tuple[CategoryRule, ...]:
    rules = []
    for i, item in enumerate(items):
        category = item.get("category", "")
        if category not in CATEGORIES:
            raise RulesError(f"{where}: category[{i}] is {category!r}, not one of {CATEGORIES}")
        conditions = _conditions(item.get("when"), f"{where}: category[{i}]")
        rules.append(
            CategoryRule(
                conditions=conditions,
                category=category,
                label=item.get("label", category.upper()),
                source=", ".join(c.keyword for c in conditions) or "default",
            )
        )
    return tuple(rules)


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


def _rule_set(path: Path, known: Mapping[str, Path]) -> RuleSet:
    document = _load_document(path, known)
    where = path.name
    mode = tuple(
        ModeKeyword(
            keyword=item["keyword"],
            name=item.get("name", item["keyword"].split()[-1].lower()),
            categories=frozenset(item.get("categories", CATEGORIES)),
        )
        for item in document.get("mode", [])
    )
    return RuleSet(
        name=document.get("name", path.stem),
        priority=int(document.get("priority", 0)),
        match=_conditions(document.get("match"), f"{where}: match"),
        instrument=_value_rules(document.get("instrument"), f"{where}: instrument"),
        arm=_value_rules(document.get("arm"), f"{where}: arm"),
        categories=_category_rules(document.get("category", []), where),
        mode=mode,
        path=path,
    )


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
        Sorted by descending priority; the generic rules (priority 0) come last.
    """
    files: dict[str, Path] = {}
    for folder in (BUILTIN_DIR, *extra_dirs):
        for path in sorted(Path(folder).glob("*.toml")):
            files[path.stem] = path
    rule_sets = [_rule_set(path, files) for path in files.values()]
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
    view = _HeaderView(header, filename)
    rules = next((r for r in rule_sets if r.matches(view)), None)
    if rules is None:
        return ImageIdentity(UNKNOWN_INSTRUMENT, "", "unknown", "UNKNOWN", "", f"UNKNOWN_ext{ext}", "", "")
    instrument = _first(rules.instrument, view) or UNKNOWN_INSTRUMENT
    arm = _first(rules.arm, view) or ""
    chosen = next((c for c in rules.categories if c.holds(view)), None)
    category = chosen.category if chosen else "unknown"
    label = chosen.label if chosen else "UNKNOWN"
    mode = _mode(rules.mode, view, category)
    name = "_".join(part for part in (instrument, arm, label) if part)
    return ImageIdentity(
        instrument=instrument,
        arm=arm,
        category=category,
        label=label,
        mode=mode,
        image_type=f"{name}_ext{ext}",
        rules=rules.name,
        category_source=chosen.source if chosen else "",
    )


def _first(rules: Iterable[ValueRule], header: Header) -> str | None:
    for rule in rules:
        value = rule.apply(header)
        if value:
            return value
    return None


def _mode(keywords: Iterable[ModeKeyword], header: Header, category: str) -> str:
    parts = []
    for item in keywords:
        if category not in item.categories:
            continue
        value = header.get(item.keyword)
        if value is None or str(value).strip() == "":
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        parts.append(f"{item.name}={str(value).strip()}")
    return " ".join(parts)


class _HeaderView(Mapping[str, Any]):
    """A header seen by the rules: astropy's keyword access plus ``_FILENAME``."""

    def __init__(self, header: Header, filename: str) -> None:
        self._header = header
        self._filename = filename

    def __getitem__(self, key: str) -> Any:
        if key == "_FILENAME":
            return self._filename
        return self._header[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except (KeyError, IndexError, ValueError):
            return default

    def __iter__(self):
        return iter(self._header)

    def __len__(self) -> int:
        return len(self._header)
