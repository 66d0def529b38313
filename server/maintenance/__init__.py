"""Jobs an operator runs by hand against a running platform (``python -m server.maintenance``)."""
