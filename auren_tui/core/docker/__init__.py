"""The server's Docker Engine: one client factory, container rows, stats, logs.

- ``client.py``: the one Docker SDK client factory, and ``NoDocker`` with what to do
- ``stats.py``: the one reading of Docker's stats JSON (CPU %, memory)
- ``inspect.py``: times and image names from ``docker inspect``
- ``containers.py``: list, follow logs, start/stop/restart (the Containers screen)
"""
