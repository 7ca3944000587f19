"""Development and test tooling, never installed to serve production (``DEVTOOLS``, see docs/configuration.md)."""
