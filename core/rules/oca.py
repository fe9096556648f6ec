"""ESO's OCA rule files: the classification rules that ship with ESO's data-reduction pipelines.

Each ESO pipeline (Debian packages ``cpl-plugin-*``) installs the rules its file
organiser, Gasgano, uses to classify raw frames: ``gasgano/config/<instrument>.oca``.
A classification rule reads::

    if DPR.CATG like "%CALIB%" and DPR.TYPE like "%BIAS%" and DET.CHIPS == 1 then
    {
      DO.CATG = "BIAS_BLUE";
    }

Conditions compare header keywords (``DPR.CATG`` is ``HIERARCH ESO DPR CATG``;
``INSTRUME`` stays ``INSTRUME``) with ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``,
``like`` (SQL patterns: ``%`` is any text), ``regexp`` and ``is string`` / ``is number``,
joined by ``and``, ``or``, ``not`` and parentheses. An assignment gives a text, a number,
a keyword's value or the truth of a condition. ESO's own note on the language: rules are
read from the first to the last, and every rule that holds overwrites what earlier ones
assigned. Text is compared without regard to case (ESO's rules spell one category both
``test`` and ``TEST``), numbers as numbers; a keyword the header lacks makes its
comparison false.

The association and action parts of a file (``select ...``, ``action ... { }``) say
how frames are combined by the pipeline; they are skipped here.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

ORDERINGS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
COMPARISONS = (*ORDERINGS, "like", "regexp")
TYPE_TESTS = ("string", "number")
TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<comment>//[^\n]*|/\*.*?\*/)
    | (?P<string>"[^"\n]*")
    | (?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    | (?P<op>==|!=|<=|>=|[-<>=(){};,+*/])
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


class OcaError(ValueError):
    """An OCA file cannot be read: the message names the file and line."""


def fits_keyword(name: str) -> str:
    """The FITS keyword an OCA name stands for: ``DPR.CATG`` -> ``HIERARCH ESO DPR CATG``."""
    return f"HIERARCH ESO {name.replace('.', ' ')}" if "." in name else name


@dataclass(frozen=True)
class Keyword:
    """A header keyword in a condition."""

    name: str

    def value(self, header: Mapping[str, Any]) -> Any:
        value = header.get(fits_keyword(self.name))
        return value.strip() if isinstance(value, str) else value


@dataclass(frozen=True)
class Literal:
    """A quoted text or a number."""

    value: str | float


Operand = Keyword | Literal


def _operand_value(operand: Operand, header: Mapping[str, Any]) -> Any:
    return operand.value(header) if isinstance(operand, Keyword) else operand.value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@lru_cache(maxsize=1024)
def like_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression of an SQL ``like`` pattern (``%`` is any text; the whole value must match)."""
    return re.compile("".join(".*" if c == "%" else re.escape(c) for c in pattern), re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Comparison:
    """``left OPERATOR right``."""

    left: Operand
    operator: str
    right: Operand

    def holds(self, header: Mapping[str, Any]) -> bool:
        left, right = _operand_value(self.left, header), _operand_value(self.right, header)
        if left is None or right is None:
            return False
        if self.operator == "like":
            return bool(like_pattern(str(right)).fullmatch(str(left)))
        if self.operator == "regexp":
            try:
                return bool(re.search(str(right), str(left)))
            except re.error:
                return False
        a, b = _number(left), _number(right)
        if a is None or b is None:
            if self.operator not in ("==", "!="):
                return False
            a, b = str(left).strip().casefold(), str(right).strip().casefold()
        return ORDERINGS[self.operator](a, b)

    def keywords(self) -> tuple[str, ...]:
        return tuple(o.name for o in (self.left, self.right) if isinstance(o, Keyword))


@dataclass(frozen=True)
class BooleanOp:
    """``and`` / ``or`` of several conditions, or ``not`` of one."""

    operator: str
    operands: tuple[Condition, ...]

    def holds(self, header: Mapping[str, Any]) -> bool:
        if self.operator == "and":
            return all(o.holds(header) for o in self.operands)
        if self.operator == "or":
            return any(o.holds(header) for o in self.operands)
        return not self.operands[0].holds(header)

    def keywords(self) -> tuple[str, ...]:
        return tuple(k for o in self.operands for k in o.keywords())


@dataclass(frozen=True)
class TypeTest:
    """``KEYWORD is string`` / ``KEYWORD is number``: the header has the keyword, with a value of that kind."""

    keyword: Keyword
    kind: str

    def holds(self, header: Mapping[str, Any]) -> bool:
        value = self.keyword.value(header)
        if value is None:
            return False
        if self.kind == "string":
            return isinstance(value, str) and bool(value)
        return _number(value) is not None

    def keywords(self) -> tuple[str, ...]:
        return (self.keyword.name,)


Condition = Comparison | BooleanOp | TypeTest


@dataclass(frozen=True)
class Assignment:
    """``TARGET = value;``: a text or number, a keyword's value, or a condition whose truth is assigned."""

    target: str
    value: Literal | Keyword | Condition

    def value_for(self, header: Mapping[str, Any]) -> str | float | bool | None:
        if isinstance(self.value, Literal):
            return self.value.value
        if isinstance(self.value, Keyword):
            return self.value.value(header)
        return self.value.holds(header)


@dataclass(frozen=True)
class ClassificationRule:
    """``if CONDITION then { ASSIGNMENTS }``, with the line it starts on."""

    condition: Condition
    assignments: tuple[Assignment, ...]
    line: int


@dataclass(frozen=True)
class OcaRules:
    """The classification rules of one OCA file, in the order ESO applies them."""

    rules: tuple[ClassificationRule, ...]
    source: str

    def classify(self, header: Mapping[str, Any]) -> dict[str, str | float | bool]:
        """What ESO's rules assign to a frame (``{"DO.CATG": "BIAS_BLUE", ...}``); empty when none holds.

        Every rule that holds overwrites what earlier rules assigned, as in Gasgano.
        """
        out: dict[str, str | float | bool] = {}
        for rule in self.rules:
            if rule.condition.holds(header):
                for assignment in rule.assignments:
                    value = assignment.value_for(header)
                    if value is not None:
                        out[assignment.target] = value
        return out


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    line: int


class _Parser:
    """Recursive descent over the tokens of one file; only the classification rules are kept."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.tokens = list(_tokens(text))
        self.at = 0

    def error(self, message: str, token: _Token | None = None) -> OcaError:
        token = token or self.peek()
        where = f"line {token.line}" if token else "end of file"
        return OcaError(f"{self.source}, {where}: {message}")

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, text: str | None = None) -> _Token:
        token = self.peek()
        if token is None:
            raise self.error(f"expected {text!r}" if text else "unexpected end of file")
        if text is not None and token.text.lower() != text:
            raise self.error(f"expected {text!r}, found {token.text!r}")
        self.at += 1
        return token

    def is_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind in ("name", "op") and token.text.lower() in words

    def rules(self) -> tuple[ClassificationRule, ...]:
        found, depth = [], 0
        while (token := self.peek()) is not None:
            if depth == 0 and token.kind == "name" and token.text.lower() == "if":
                found.append(self.rule())
                continue
            depth += {"{": 1, "}": -1}.get(token.text, 0) if token.kind == "op" else 0
            if depth < 0:
                raise self.error("'}' without '{'", token)
            self.at += 1
        return tuple(found)

    def rule(self) -> ClassificationRule:
        line = self.take("if").line
        condition = self.condition()
        self.take("then")
        self.take("{")
        assignments = []
        while not self.is_word("}"):
            if self.peek() is None:
                raise self.error(f"the rule of line {line} is not closed by '}}'")
            assignments.append(self.assignment())
        self.take("}")
        return ClassificationRule(condition, tuple(assignments), line)

    def assignment(self) -> Assignment:
        target = self.take()
        if target.kind != "name":
            raise self.error(f"expected a keyword to assign, found {target.text!r}", target)
        self.take("=")
        after = self.tokens[self.at + 1] if self.at + 1 < len(self.tokens) else None
        value: Literal | Keyword | Condition
        if after is not None and after.text == ";" and self.peek().kind in ("string", "number", "name"):
            value = self.operand()
        else:
            value = self.condition()
        self.take(";")
        return Assignment(target.text, value)

    def condition(self) -> Condition:
        operands = [self.conjunction()]
        while self.is_word("or"):
            self.take()
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else BooleanOp("or", tuple(operands))

    def conjunction(self) -> Condition:
        operands = [self.negation()]
        while self.is_word("and"):
            self.take()
            operands.append(self.negation())
        return operands[0] if len(operands) == 1 else BooleanOp("and", tuple(operands))

    def negation(self) -> Condition:
        if self.is_word("not"):
            self.take()
            return BooleanOp("not", (self.negation(),))
        if self.is_word("("):
            self.take()
            inner = self.condition()
            self.take(")")
            return inner
        left = self.operand()
        operator = self.take()
        if operator.text.lower() == "is" and isinstance(left, Keyword):
            kind = self.take().text.lower()
            if kind not in TYPE_TESTS:
                raise self.error(f"expected one of {', '.join(TYPE_TESTS)} after 'is', found {kind!r}")
            return TypeTest(left, kind)
        if operator.text.lower() not in COMPARISONS:
            raise self.error(f"expected a comparison ({', '.join(COMPARISONS)}), found {operator.text!r}", operator)
        return Comparison(left, operator.text.lower(), self.operand())

    def operand(self) -> Operand:
        token = self.peek()
        if token is not None and token.kind == "name" and token.text.lower() not in ("and", "or", "not", "then"):
            self.take()
            return Keyword(token.text)
        return self.literal()

    def literal(self) -> Literal:
        token = self.take()
        if token.kind == "string":
            return Literal(token.text[1:-1])
        if token.kind == "number":
            return Literal(float(token.text))
        raise self.error(f"expected a keyword, a text or a number, found {token.text!r}", token)


def _tokens(text: str) -> Iterator[_Token]:
    line = 1
    for match in TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        if kind not in ("space", "comment"):
            yield _Token(kind, match.group(), line)
        line += match.group().count("\n")


def parse_oca(text: str, source: str = "<oca>") -> OcaRules:
    """The classification rules of an OCA text.

    Raises
    ------
    OcaError
        When a classification rule cannot be read; the message names the source and line.
    """
    return OcaRules(_Parser(text, source).rules(), source)


@lru_cache(maxsize=32)
def read_oca(path: Path) -> OcaRules:
    """The classification rules of an OCA file (read once per process)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise OcaError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse_oca(text, str(path))
