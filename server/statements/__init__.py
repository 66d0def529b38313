"""Monthly account statements (issue #17 item 7): opening balance, every posting of
the month, closing balance, as CSV or PDF.

- ``period``: the month asked for (YYYY-MM, UTC) and its rules (not in the future,
  not before the account was opened); pure.
- ``builder``: postings in, statement lines and totals out; checks that the running
  balance reconciles with each posting's ``balance_after``; pure.
- ``render_csv``, ``render_pdf`` (over ``pdf``, a minimal PDF writer): bytes out; pure.
- ``query``: reads the event store (the source of truth, docs/adr/1010) and the
  account registry; the only module here that does I/O.
"""
