"""SPDX licence expressions (``MIT OR GPL-3.0``, ``(Apache-2.0 AND CC-BY-4.0)``, ``X WITH exception``).

A small recursive-descent parser instead of the ``license-expression`` package: the grammar is four
tokens, the ids we must resolve are mostly hub ids that package does not know, and evaluating a choice
against the policy needs three-valued logic (acceptable / not / unknown) that we apply ourselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mlsec_dagster.scanners.licenses.catalog import UNKNOWN, canonical

MAX_TOKENS = 64
"""A declaration longer than this is not an expression (it is prose), so it is not parsed as one."""

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
_OPERATORS = {"and": "AND", "or": "OR", "with": "WITH", "/": "OR", "&": "AND", "|": "OR"}


@dataclass(frozen=True)
class Leaf:
    declared: str
    spdx: str | None
    """Canonical id, or None when unknown (``other``) or unidentified."""
    exception: str | None = None


@dataclass(frozen=True)
class Node:
    op: str
    """``AND`` or ``OR``."""
    parts: tuple[Expr, ...]


Expr = Leaf | Node


class ExpressionError(ValueError):
    pass


def parse(text: str) -> Expr:
    """Parse one declared value. Plain names with spaces (``Apache License 2.0``) are one leaf."""
    if canonical(text) is not None or text.strip().lower() in UNKNOWN:
        return _leaf(text.strip())
    tokens = [t for t in _TOKEN.findall(text) if t]
    if not tokens or len(tokens) > MAX_TOKENS:
        raise ExpressionError(f"{len(tokens)} tokens")
    parser = _Parser(tokens)
    expr = parser.expression()
    if parser.pos != len(tokens):
        raise ExpressionError(f"unexpected {tokens[parser.pos]!r}")
    return expr


def leaves(expr: Expr) -> list[Leaf]:
    if isinstance(expr, Leaf):
        return [expr]
    return [leaf for part in expr.parts for leaf in leaves(part)]


def render(expr: Expr, top: bool = True) -> str | None:
    """The normalised expression, or None when any part is unknown."""
    if isinstance(expr, Leaf):
        if expr.spdx is None:
            return None
        return expr.spdx + (f" WITH {expr.exception}" if expr.exception else "")
    parts = [render(p, top=False) for p in expr.parts]
    if any(p is None for p in parts):
        return None
    joined = f" {expr.op} ".join(p for p in parts if p is not None)
    return joined if top else f"({joined})"


def evaluate(expr: Expr, leaf_value: Callable[[Leaf], bool | None]) -> bool | None:
    """Three-valued: OR holds when any branch holds, AND when all do; None (unknown) otherwise
    unless a definite answer exists (``X OR unknown`` with X acceptable holds)."""
    if isinstance(expr, Leaf):
        return leaf_value(expr)
    values = [evaluate(p, leaf_value) for p in expr.parts]
    decisive, other = (True, False) if expr.op == "OR" else (False, True)
    if decisive in values:
        return decisive
    return None if None in values else other


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def _peek(self) -> str | None:
        if self.pos >= len(self.tokens):
            return None
        token = self.tokens[self.pos]
        return _OPERATORS.get(token.lower(), token)

    def expression(self) -> Expr:
        return self._binary("OR", self._and)

    def _and(self) -> Expr:
        return self._binary("AND", self._with)

    def _binary(self, op: str, operand: Callable[[], Expr]) -> Expr:
        parts = [operand()]
        while self._peek() == op:
            self.pos += 1
            parts.append(operand())
        return parts[0] if len(parts) == 1 else Node(op, tuple(parts))

    def _with(self) -> Expr:
        expr = self._atom()
        if self._peek() == "WITH":
            self.pos += 1
            exception = self._peek()
            if not isinstance(expr, Leaf) or exception is None or exception in ("(", ")", "AND", "OR"):
                raise ExpressionError("WITH needs a licence and an exception")
            self.pos += 1
            return Leaf(f"{expr.declared} WITH {exception}", expr.spdx, exception)
        return expr

    def _atom(self) -> Expr:
        token = self._peek()
        if token is None or token in (")", "AND", "OR", "WITH"):
            raise ExpressionError(f"expected a licence, got {token!r}")
        self.pos += 1
        if token == "(":
            expr = self.expression()
            if self._peek() != ")":
                raise ExpressionError("unbalanced parenthesis")
            self.pos += 1
            return expr
        words = [self.tokens[self.pos - 1]]
        while self._peek() not in (None, "(", ")", "AND", "OR", "WITH"):
            words.append(self.tokens[self.pos])
            self.pos += 1
        return _leaf(" ".join(words))


def _leaf(raw: str) -> Leaf:
    """One licence name (possibly several words: ``Apache License 2.0``); ``X+`` means X or later."""
    plus = raw.endswith("+") and canonical(raw) is None
    spdx = canonical(raw[:-1] if plus else raw)
    if plus and spdx is not None:
        spdx = canonical(spdx.removesuffix("-only") + "-or-later") or spdx
    return Leaf(raw, spdx)


def resolve(text: str) -> Expr:
    """Like :func:`parse`, but a value that is no expression becomes one unidentified leaf."""
    try:
        return parse(text)
    except ExpressionError:
        return Leaf(text.strip(), None)
