"""Header-rule files (TOML): conditions on keywords that name instrument, arm, category and mode.

A file says which headers it applies to (``[match]``), how to name the instrument and
the arm, an ordered list of category rules (the first whose conditions all hold wins)
and which keywords make up the instrument *mode* (grating, binning ...). A file may
``extends`` another to reuse its rules. Conditions are case-insensitive regular
expressions searched in the keyword's value, or numeric bounds ``{ min = ..., max = ... }``.

Pseudo-keywords offered to conditions: ``_FILENAME`` (the file's name, for observatories
whose headers say nothing useful) and ``_ARM`` (the arm the rules chose, for mode keywords
that belong to one arm, such as the grating of each arm of a two-arm spectrograph).

A category's label may name keywords in braces, ``"TEST_{HIERARCH ESO DPR TYPE}"``: each
is replaced by the keyword's value made safe for a type name, so that a frame no rule
foresaw is kept apart under a name of its own instead of joining another type's history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CATEGORIES = ("bias", "flat", "arc", "dark", "science", "unknown")
CALIBRATION_CATEGORIES = frozenset({"bias", "flat", "arc", "dark"})
UNKNOWN_INSTRUMENT = "UNKNOWN"
UNKNOWN_LABEL = "UNKNOWN"
ARM_KEYWORD = "_ARM"
FILENAME_KEYWORD = "_FILENAME"
LABEL_FIELD = re.compile(r"\{([^{}]+)\}")

Header = Mapping[str, Any]


class RulesError(ValueError):
    """A rules file is malformed."""


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


def fill_label(template: str, header: Header) -> str:
    """A label with each ``{KEYWORD}`` replaced by the keyword's sanitized value (empty when absent)."""
    filled = LABEL_FIELD.sub(lambda m: sanitize(str(header.get(m.group(1)) or "")), template)
    return re.sub(r"_+", "_", filled).strip("_") or UNKNOWN_LABEL


def type_name(instrument: str, arm: str, label: str, ext: int) -> str:
    """``UVES_RED_BIAS_ext1``: instrument, arm and label, then the extension number."""
    name = "_".join(part for part in (instrument, arm, label) if part)
    return f"{name}_ext{ext}"


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
    """Conditions that make an image a category, with the label (or label template) used in type names."""

    conditions: tuple[Condition, ...]
    category: str
    label: str
    source: str

    def holds(self, header: Header) -> bool:
        return all(c.holds(header) for c in self.conditions)

    def label_for(self, header: Header) -> str:
        return fill_label(self.label, header) if LABEL_FIELD.search(self.label) else self.label


@dataclass(frozen=True)
class ModeKeyword:
    """A keyword that is part of the instrument mode for some categories (and, with conditions, some frames)."""

    keyword: str
    name: str
    categories: frozenset[str]
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class TomlRules:
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

    def identify(self, header: HeaderView, ext: int) -> ImageIdentity:
        """The identity of an image these rules match; category ``unknown`` when no category rule holds."""
        instrument = _first(self.instrument, header) or UNKNOWN_INSTRUMENT
        arm = _first(self.arm, header) or ""
        view = header.with_values({ARM_KEYWORD: arm})
        chosen = next((c for c in self.categories if c.holds(view)), None)
        category = chosen.category if chosen else "unknown"
        label = chosen.label_for(view) if chosen else UNKNOWN_LABEL
        return ImageIdentity(
            instrument=instrument,
            arm=arm,
            category=category,
            label=label,
            mode=mode_of(self.mode, view, category),
            image_type=type_name(instrument, arm, label, ext),
            rules=self.name,
            category_source=chosen.source if chosen else "",
        )


def conditions_of(table: Mapping[str, Any] | None, where: str) -> tuple[Condition, ...]:
    """Conditions from a TOML table ``{ KEYWORD = "pattern" | { min, max } }``."""
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


def mode_keywords_of(items: Sequence[Mapping[str, Any]], where: str) -> tuple[ModeKeyword, ...]:
    """Mode keywords from the ``[[mode]]`` tables of a rules document."""
    out = []
    for i, item in enumerate(items):
        if "keyword" not in item:
            raise RulesError(f"{where}: mode[{i}] names no keyword")
        categories = frozenset(item.get("categories", CATEGORIES))
        if not categories <= set(CATEGORIES):
            raise RulesError(f"{where}: mode[{i}] names categories {sorted(categories - set(CATEGORIES))}")
        out.append(
            ModeKeyword(
                keyword=item["keyword"],
                name=item.get("name", item["keyword"].split()[-1].lower()),
                categories=categories,
                conditions=conditions_of(item.get("when"), f"{where}: mode[{i}]"),
            )
        )
    return tuple(out)


def _value_rules(items: Any, where: str) -> tuple[ValueRule, ...]:
    if isinstance(items, Mapping):
        items = [items]
    rules = []
    for i, item in enumerate(items or []):
        source = item.get("from", ())
        rules.append(
            ValueRule(
                conditions=conditions_of(item.get("when"), f"{where}[{i}]"),
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
        conditions = conditions_of(item.get("when"), f"{where}: category[{i}]")
        rules.append(
            CategoryRule(
                conditions=conditions,
                category=category,
                label=item.get("label", category.upper()),
                source=", ".join(c.keyword for c in conditions) or "default",
            )
        )
    return tuple(rules)


def toml_rules(document: Mapping[str, Any], path: Path) -> TomlRules:
    """The rules of one (merged) TOML document."""
    where = path.name
    return TomlRules(
        name=document.get("name", path.stem),
        priority=int(document.get("priority", 0)),
        match=conditions_of(document.get("match"), f"{where}: match"),
        instrument=_value_rules(document.get("instrument"), f"{where}: instrument"),
        arm=_value_rules(document.get("arm"), f"{where}: arm"),
        categories=_category_rules(document.get("category", []), where),
        mode=mode_keywords_of(document.get("mode", []), where),
        path=path,
    )


def _first(rules: Iterable[ValueRule], header: Header) -> str | None:
    for rule in rules:
        value = rule.apply(header)
        if value:
            return value
    return None


def mode_of(keywords: Iterable[ModeKeyword], header: Header, category: str) -> str:
    """``wlen=580 binx=1 biny=1 ...``: the mode keywords that apply to this category and frame."""
    parts = []
    for item in keywords:
        if category not in item.categories or not all(c.holds(header) for c in item.conditions):
            continue
        value = header.get(item.keyword)
        if value is None or str(value).strip() == "":
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        parts.append(f"{item.name}={str(value).strip()}")
    return " ".join(parts)


class HeaderView(Mapping[str, Any]):
    """A header seen by the rules: astropy's keyword access plus pseudo-keywords (``_FILENAME``, ``_ARM``)."""

    def __init__(self, header: Header, values: Mapping[str, Any]) -> None:
        self._header = header
        self._values = dict(values)

    def with_values(self, values: Mapping[str, Any]) -> HeaderView:
        """The same header with more pseudo-keywords."""
        return HeaderView(self._header, {**self._values, **values})

    def __getitem__(self, key: str) -> Any:
        if key in self._values:
            return self._values[key]
        return self._header[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except (KeyError, IndexError, ValueError):
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._header)

    def __len__(self) -> int:
        return len(self._header)
