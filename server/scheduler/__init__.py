"""The standing-order scheduler: ``python -m server.scheduler`` (see __main__.py)."""
