"""Schemathesis hooks of the GraphQL run (loaded through SCHEMATHESIS_HOOKS): how to
write the schema's custom scalar. MinorUnits is a 64-bit integer; values past its
bounds and negative ones are drawn too (the API must refuse them, not fail)."""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

schemathesis.graphql.scalar(
    "MinorUnits", st.integers(min_value=-(2**64), max_value=2**64).map(nodes.Int)
)
