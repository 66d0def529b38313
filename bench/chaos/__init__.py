"""The chaos suite: faults under load, then the guarantees checked (issue #11, item 6)."""
