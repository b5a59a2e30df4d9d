"""Playwright async wrapper: settle detection, one-pass DOM capture, compact observations,
the action grammar and its execution, screenshots with an optional set-of-marks overlay.

The public names are imported lazily so that importing a sub-module (e.g. for the CLI)
does not load Playwright.
"""
