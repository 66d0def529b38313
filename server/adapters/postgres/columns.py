"""Rows as the column arrays a statement's ``unnest()`` takes: one list per column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def unnest_columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """``rows`` (each ``width`` values) to ``width`` lists, one per column."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(c) for c in zip(*rows, strict=True)]
