"""Abuse limits (OWASP API4): depth, aliases, tokens and total cost of one document.

The cost of a document is the number of fields it can return: each field counts 1,
and the fields under a paginated field count as many times as the page it asks for
(``first``, or the default page size). A document over a limit is refused before it
runs, with an error that says which limit and by how much.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
)
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from server.graphql.problems import extensions_of

MAX_DEPTH = 8
MAX_ALIASES = 15
MAX_TOKENS = 2000
MAX_COST = 5000
DEFAULT_PAGE = 50
# Lists without a page argument, and how long they are charged as (one element per ...):
# a customer's accounts, a year of days; pending holds, payees, standing orders and an
# order's occurrences have no hard bound, so they are charged as a generous page.
LIST_SIZES = {
    "accounts": 20,
    "days": 366,
    "holds": 100,
    "payees": 100,
    "standingOrders": 100,
    "occurrences": 500,
}


def _page_size(field: FieldNode, variables: dict[str, Any]) -> int:
    for arg in field.arguments or ():
        if arg.name.value != "first":
            continue
        if isinstance(arg.value, IntValueNode):
            return max(int(arg.value.value), 0)
        if isinstance(arg.value, VariableNode):
            value = variables.get(arg.value.name.value)
            return value if isinstance(value, int) else DEFAULT_PAGE
        return DEFAULT_PAGE
    if field.name.value == "transactions":
        return DEFAULT_PAGE
    return LIST_SIZES.get(field.name.value, 1)


class _Cost:
    def __init__(self, context: ValidationContext, variables: dict[str, Any]) -> None:
        self.fragments = {
            d.name.value: d
            for d in context.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = variables

    def of(self, selection_set: SelectionSetNode | None, seen: frozenset[str] = frozenset()) -> int:
        if selection_set is None:
            return 0
        total = 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                total += 1 + _page_size(sel, self.variables) * self.of(sel.selection_set, seen)
            elif isinstance(sel, InlineFragmentNode):
                total += self.of(sel.selection_set, seen)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
                fragment = self.fragments.get(sel.name.value)
                if fragment is not None:
                    total += self.of(fragment.selection_set, seen | {sel.name.value})
        return total


def cost_rule(variables: dict[str, Any]) -> type[ValidationRule]:
    class CostLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            cost = _Cost(self.context, variables).of(node.selection_set)
            if cost > MAX_COST:
                self.report_error(
                    GraphQLError(
                        f"This query could return {cost} fields; at most {MAX_COST} are allowed."
                        " Ask for smaller pages (first) or fewer fields.",
                        node,
                        extensions=extensions_of("query_too_costly", 400),
                    )
                )

    return CostLimit


class CostLimiter(AddValidationRules):
    """Adds the cost rule with this request's variables (a page size may be a variable)."""

    def __init__(self) -> None:
        super().__init__([])

    def on_validate(self) -> Iterator[None]:
        variables = self.execution_context.variables or {}
        self.execution_context.validation_rules = (
            *self.execution_context.validation_rules,
            cost_rule(variables),
        )
        yield


ExtensionFactory = type[SchemaExtension] | Callable[[], SchemaExtension]


def abuse_limits() -> list[ExtensionFactory]:
    """Factories: Strawberry builds each extension anew for every request."""
    return [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        CostLimiter,
    ]
