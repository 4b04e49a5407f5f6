"""HTTP routes: webhooks, health, metrics."""
