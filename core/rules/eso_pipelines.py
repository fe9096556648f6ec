"""Instruments typed by ESO's own classification rules, found where ESO's pipelines are installed.

A rules document with an ``oca`` list (the built-in ``eso_pipelines.toml``) names where
OCA files lie (``/usr/share/cpl-plugins/*/gasgano/config/*.oca`` for Debian's
``cpl-plugin-*`` packages). Every file found becomes the rules of one instrument: a frame
whose ``INSTRUME`` names it is classified by ESO's rules (:mod:`core.rules.oca`), and
ESO's class (``DO.CATG``, with ``RAW.TYPE`` where ESO sets one) gives the calspot type:

- the arm is the token of the class that names it (``BIAS_BLUE`` -> arm ``BLUE``);
- the label is the rest (``BIAS``), so that two classes of ESO never share a type
  (``RAW.TYPE`` joins it where ESO sets one: ``ON_RAW_SCREEN_FLAT``);
- the category is the first of the document's ``[[do_catg]]`` patterns that the label
  matches (``BIAS`` -> bias, ``ARC`` -> arc ...), ``unknown`` when none does;
- a frame ESO's rules leave unclassified is ``unknown``, labelled from the document's
  ``unclassified`` template (its own DPR CATG and TYPE), never merged with another type.

An instrument with a rules file of its own (UVES) is typed by that file, which comes
first by priority; its OCA file then serves the tests that hold the two together.
"""

from __future__ import annotations

import glob
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .header_rules import (
    CATEGORIES,
    UNKNOWN_LABEL,
    Condition,
    Header,
    ImageIdentity,
    ModeKeyword,
    RulesError,
    fill_label,
    mode_keywords_of,
    mode_of,
    sanitize,
    type_name,
)
from .oca import OcaError, OcaRules, read_oca


@dataclass(frozen=True)
class EsoClassMapping:
    """How ESO's class of a frame becomes a calspot category, arm and label (from a rules document)."""

    arm: re.Pattern[str]
    categories: tuple[tuple[re.Pattern[str], str], ...]
    unclassified: str
    mode: tuple[ModeKeyword, ...]

    def split_arm(self, name: str) -> tuple[str, str]:
        """``ARC_LAMP_FORM_RED`` -> (``RED``, ``ARC_LAMP_FORM``); no arm when no token names one."""
        match = self.arm.search(name)
        if not match:
            return "", name
        rest = (name[: match.start()] + "_" + name[match.end() :]).strip("_")
        return match.group(1).upper(), re.sub(r"_+", "_", rest)

    def category_of(self, label: str) -> str:
        return next((category for pattern, category in self.categories if pattern.search(label)), "unknown")


@dataclass(frozen=True)
class EsoPipelineRules:
    """The rules of one instrument that an ESO pipeline's OCA file classifies."""

    name: str
    priority: int
    match: tuple[Condition, ...]
    instrument: str
    oca: OcaRules
    mapping: EsoClassMapping
    path: Path

    def matches(self, header: Header) -> bool:
        return all(c.holds(header) for c in self.match)

    def eso_class(self, header: Header) -> tuple[str, str]:
        """ESO's class of a frame: (``DO.CATG``, ``RAW.TYPE``), each empty where ESO assigns none."""
        assigned = self.oca.classify(header)
        return str(assigned.get("DO.CATG", "") or "").strip(), str(assigned.get("RAW.TYPE", "") or "").strip()

    def identify(self, header: Header, ext: int) -> ImageIdentity:
        """The identity ESO's rules give an image."""
        eso_class = [name for name in self.eso_class(header) if name]
        if eso_class:
            parts = [self.mapping.split_arm(sanitize(name)) for name in eso_class]
            arm = next((a for a, _ in parts if a), "")
            label = "_".join(part for _, part in parts)
            category = self.mapping.category_of(label)
            source = f"ESO {self.path.name}: {' '.join(eso_class)}"
        else:
            arm, label, category, source = "", fill_label(self.mapping.unclassified, header), "unknown", ""
        label = label or UNKNOWN_LABEL
        return ImageIdentity(
            instrument=self.instrument,
            arm=arm,
            category=category,
            label=label,
            mode=mode_of(self.mapping.mode, header, category),
            image_type=type_name(self.instrument, arm, label, ext),
            rules=self.name,
            category_source=source,
        )


def class_mapping(document: Mapping[str, Any], where: str) -> EsoClassMapping:
    """The mapping from ESO classes to calspot types that a rules document describes."""
    categories = []
    for i, item in enumerate(document.get("do_catg", [])):
        if item.get("category") not in CATEGORIES:
            raise RulesError(f"{where}: do_catg[{i}] category is {item.get('category')!r}, not one of {CATEGORIES}")
        categories.append((_pattern(item.get("pattern", ""), f"{where}: do_catg[{i}]"), item["category"]))
    return EsoClassMapping(
        arm=_pattern(document.get("arm", "(?!)"), f"{where}: arm"),
        categories=tuple(categories),
        unclassified=document.get("unclassified", UNKNOWN_LABEL),
        mode=mode_keywords_of(document.get("mode", []), where),
    )


def eso_pipeline_rules(document: Mapping[str, Any], path: Path) -> list[EsoPipelineRules]:
    """One rule set per OCA file that the document's ``oca`` patterns find.

    Patterns are tried in order; of the files one pattern finds for an instrument (one
    folder per pipeline version), the highest version is taken. A file that cannot be
    read is left out with a warning: an installed pipeline must not stop calspot.
    """
    where = path.name
    mapping = class_mapping(document, where)
    names = document.get("instruments", {})
    out = []
    for oca_path in find_oca_files(document.get("oca", []), path.parent):
        stem = oca_path.stem.lower()
        known = names.get(stem, {})
        instrument = known.get("name", stem.upper())
        try:
            rules = read_oca(oca_path)
        except OcaError as exc:
            warnings.warn(f"ESO rules left out: {exc}", stacklevel=2)
            continue
        match = known.get("match", f"^{re.escape(instrument)}")
        out.append(
            EsoPipelineRules(
                name=f"{instrument} (ESO {oca_path.name})",
                priority=int(document.get("priority", 0)),
                match=(Condition("INSTRUME", pattern=_pattern(match, f"{where}: instruments.{stem}")),),
                instrument=instrument,
                oca=rules,
                mapping=mapping,
                path=oca_path,
            )
        )
    return out


def find_oca_files(patterns: Sequence[str], base: Path) -> list[Path]:
    """The OCA files that glob patterns find (relative ones from ``base``), one per instrument name."""
    chosen: dict[str, Path] = {}
    for pattern in patterns:
        full = Path(pattern).expanduser()
        full = full if full.is_absolute() else base / full
        for found in sorted((Path(p) for p in glob.glob(str(full))), key=_version_key, reverse=True):
            if found.is_file():
                chosen.setdefault(found.stem.lower(), found)
    return [chosen[stem] for stem in sorted(chosen)]


def _version_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def _pattern(text: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as exc:
        raise RulesError(f"{where}: bad pattern {text!r}: {exc}") from exc
