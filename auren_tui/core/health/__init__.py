"""Service health: the checks, the collector that runs them, snapshot recordings.

- ``checks.py``: one check per kind (http, postgres, redis, kafka, none)
- ``collector.py``: one dashboard refresh; its containers' part is ``containers.py``,
  its bridge panel ``bridge_figures.py``
- ``recording.py``: snapshots recorded and replayed
"""
