"""Known-good container specs and the one-key restore (no Textual).

- ``spec.py``: what a spec is, captured from ``docker inspect``; ``store.py``: its files
- ``create.py``: a container created from a spec; ``diff.py``: how the running one differs
- ``engine.py``: the restore (``Restorer``) and its steps forward
- ``attempt.py``: what every step shares: audit, journal writes, retries through drops
- ``lock.py``: the restore lock on the server; ``rollback.py``: rollback and recovery
- ``journal.py``: the write-ahead journal; ``audit.py``: the audit log
- ``failed.py``: the ``-failed-`` containers kept, and pruning them
- ``target.py``: a profile's engine, catalog, specs and secrets: what the CLI and
  the Containers backend call
"""
