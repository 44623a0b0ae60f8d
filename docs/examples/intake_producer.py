#!/usr/bin/env python3
"""Submit a release to Sluice over Kafka and wait for its answer (docs/kafka-producers.md).

    pip install confluent-kafka
    SLUICE_TOKEN=$(cat var/local/admin-token) python3 docs/examples/intake_producer.py \
        --app shop --tag v1.4.2 --artifact-url https://artifacts.example.com/shop-1.4.2.tgz \
        --sha256 <64 hex>

Exit status: 0 accepted, 1 refused, 2 no answer in time.
"""
import argparse
import json
import os
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--brokers", default=os.environ.get("SLUICE_KAFKA_BROKERS", "127.0.0.1:19092"))
    p.add_argument("--topic", default="sluice.intake.v1")
    p.add_argument("--results-topic", default="sluice.intake.results.v1")
    p.add_argument("--app", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--artifact-url", required=True)
    p.add_argument("--sha256", required=True)
    p.add_argument("--id", default=str(uuid.uuid4()), help="submission id (retry with the same one)")
    p.add_argument("--timeout", type=float, default=30.0)
    args = p.parse_args()
    token = os.environ["SLUICE_TOKEN"]

    # Read the answers produced from now on: every partition of the results topic at its end.
    answers = Consumer({"bootstrap.servers": args.brokers, "group.id": "intake-example-" + args.id,
                        "enable.auto.commit": False})
    partitions = answers.list_topics(args.results_topic, timeout=10).topics[args.results_topic].partitions
    answers.assign([TopicPartition(args.results_topic, n,
                                   answers.get_watermark_offsets(TopicPartition(args.results_topic, n),
                                                                 timeout=10)[1])
                    for n in partitions])

    submission = {"submission_id": args.id,
                  "release": {"app": args.app, "tag": args.tag,
                              "artifact_url": args.artifact_url, "sha256": args.sha256}}
    producer = Producer({"bootstrap.servers": args.brokers, "enable.idempotence": True})
    producer.produce(args.topic, key=args.app, value=json.dumps(submission),
                     headers={"authorization": "Bearer " + token,
                              "content-type": "application/json",
                              "submission-id": args.id})
    if producer.flush(10) > 0:
        sys.exit("the submission was not delivered")

    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        msg = answers.poll(0.5)
        if msg is None or msg.error() or msg.key() != args.id.encode():
            continue
        answer = json.loads(msg.value())
        if answer["outcome"] == "accepted":
            print(f"accepted: release {answer['release_id']} (HTTP {answer['http_status']})")
            return 0
        error = answer["error"]
        print(f"refused (HTTP {answer['http_status']} {error['code']}): {error['message']}"
              + (f" [field {error['field']}]" if error["field"] else ""))
        return 1
    print(f"no answer within {args.timeout}s; submission id {args.id}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
