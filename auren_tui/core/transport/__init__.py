"""Reaching the server: SSH (hops, host keys, ~/.ssh/config), tunnels, the Connection protocol."""
