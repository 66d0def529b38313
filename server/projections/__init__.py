"""The read side's writer: the projection worker that builds account_view,
transaction_view and analytics_view from the domain topics, and the
operations on those read models (rebuild, consistency check)."""
