"""Known-good container specs and the one-key restore (no Textual)."""
