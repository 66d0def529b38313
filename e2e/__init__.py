"""End-to-end tests: the Flet web client in headless Chromium against the real stack."""
