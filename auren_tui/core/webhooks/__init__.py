"""Signed webhooks for testing the live bridge: signing, templates, the
negative suite, the trace to Kafka and the signed load generator. No Textual."""
