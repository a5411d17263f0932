#!/usr/bin/env python3
"""Reference consumer for `amc bench ingest`: what a user would otherwise write.

confluent-kafka consumer + psycopg2, batched INSERT ... ON CONFLICT into click_events and relevance_pairs,
with the partition offsets in the same transaction (exactly-once the straightforward way). Reads triad lines
only (the benchmark's workload). Exits after it has committed --count messages.

usage: reference_ingest.py --brokers B --topic T --group G --dsn DSN --count N [--batch 5000]
"""
import argparse
import sys

import psycopg2
import psycopg2.extras
from confluent_kafka import Consumer, TopicPartition


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()

    db = psycopg2.connect(args.dsn)
    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": args.group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })

    def on_assign(c, partitions):
        with db.cursor() as cur:
            cur.execute(
                "SELECT partition, next_offset FROM ingest_offsets WHERE group_id = %s AND topic = %s",
                (args.group, args.topic))
            stored = dict(cur.fetchall())
        db.rollback()
        for p in partitions:
            p.offset = stored.get(p.partition, 0)
        c.assign(partitions)

    consumer.subscribe([args.topic], on_assign=on_assign)
    done = 0
    while done < args.count:
        messages = consumer.consume(num_messages=args.batch, timeout=0.2)
        if not messages:
            continue
        events, pairs, offsets = [], {}, {}
        for m in messages:
            if m.error():
                continue
            image, query, clicks = m.value().decode("utf-8").split("\t")
            clicks = int(clicks)
            events.append((m.topic(), m.partition(), m.offset(), query, image, clicks))
            key = (query, image)
            pairs[key] = pairs.get(key, 0) + clicks
            offsets[m.partition()] = m.offset() + 1
        with db.cursor() as cur:
            psycopg2.extras.execute_values(
                cur,
                "INSERT INTO click_events (topic, partition, \"offset\", query, image, clicks, event_time) "
                "VALUES %s ON CONFLICT DO NOTHING",
                events, template="(%s, %s, %s, %s, %s, %s, now())", page_size=1000)
            psycopg2.extras.execute_values(
                cur,
                "INSERT INTO relevance_pairs AS p (query, image, clicks, click_events, first_seen, last_seen) "
                "VALUES %s ON CONFLICT (query, image) DO UPDATE SET clicks = p.clicks + EXCLUDED.clicks, "
                "click_events = p.click_events + EXCLUDED.click_events, last_seen = EXCLUDED.last_seen",
                sorted((q, i, c) for (q, i), c in pairs.items()),
                template="(%s, %s, %s, 1, now(), now())", page_size=1000)
            psycopg2.extras.execute_values(
                cur,
                "INSERT INTO ingest_offsets (group_id, topic, partition, next_offset) VALUES %s "
                "ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                [(args.group, args.topic, p, o) for p, o in offsets.items()])
        db.commit()
        done += len(events)
    consumer.close()
    print(done)


if __name__ == "__main__":
    sys.exit(main())
