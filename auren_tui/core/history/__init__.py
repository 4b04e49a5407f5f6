"""What happened while nobody was looking: the flight recorder, history plots, alerts."""
