"""The server's Docker Engine: one client factory, container rows, stats, logs."""
