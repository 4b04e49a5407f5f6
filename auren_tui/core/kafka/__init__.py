"""Kafka through a connection: the consumer, records as the tail shows them, JSON lines.

- ``client.py``: the consumer every reader opens (no group, no commits, no new
  topics), ``KafkaError``, the topic list
- ``consumer.py``: the tail (``Tail``, ``TailThread``, ``TailStatus``)
- ``records.py``: ``TailRecord`` and how its bytes are rendered
- ``start.py``: where a tail starts; ``filters.py``: the tail's filter
- ``json_lines.py``: records as ``--json`` lines; ``line_writer.py``: writing them
  from a process of its own
"""
