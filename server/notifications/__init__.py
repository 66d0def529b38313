"""The notification consumer: account events and audit rows become each customer's
inbox (PostgreSQL), pushed live over the WebSocket and to a push provider.

Run: ``python -m server.notifications``. See rules.py for what notifies whom.
"""
