"""The facades the screens and commands call: live (a server) or replay (a recording)."""
