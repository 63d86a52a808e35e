"""Adapters for registration and results providers: HTTP syncs and export-file imports."""
