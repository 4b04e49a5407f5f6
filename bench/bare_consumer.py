"""The reference for ``auren-tui tail``: a bare aiokafka consumer, nothing else.

    .venv/bin/python bench/bare_consumer.py BOOTSTRAP TOPIC COUNT

Assigns every partition of TOPIC, seeks to the beginning, and reads COUNT
records with ``getmany`` and large fetches, touching each value (its
length) and printing nothing: what aiokafka itself delivers on this machine,
so the tail's own per-record work is what remains between the two.
"""

from __future__ import annotations

import asyncio
import sys


async def main(bootstrap: str, topic: str, count: int) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = size = 0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for record in records:
                    size += len(record.value or b"")
                seen += len(records)
    finally:
        await consumer.stop()
    return 0 if size else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
