"""Service health: the checks, the collector that runs them, snapshot recordings."""
