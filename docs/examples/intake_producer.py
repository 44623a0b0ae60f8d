#!/usr/bin/env python3
"""Submit a release to Sluice over Kafka and wait for its answer (docs/kafka-producers.md).

    pip install confluent-kafka
    SLUICE_TOKEN=$(cat var/local/admin-token) python3 docs/examples/intake_producer.py \
        --app shop --tag v1.4.2 --artifact-url https://artifacts.example.com/shop-1.4.2.tgz \
        --sha256 <64 hex>

On the local stack's SASL_SSL listener, as the `ci` principal (docs/kafka-producers.md):

    source var/local/stack.env   # SLUICE_KAFKA_SASL_BROKERS, SLUICE_KAFKA_SASL_CA
    SLUICE_KAFKA_PRINCIPAL=ci SLUICE_KAFKA_PASSWORD_FILE=var/local/kafka-ci.password \
    SLUICE_TOKEN=$(cat var/local/admin-token) python3 docs/examples/intake_producer.py ...

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
    config = {"bootstrap.servers": args.brokers}
    principal = os.environ.get("SLUICE_KAFKA_PRINCIPAL")
    if principal:
        # SCRAM-SHA-512 over TLS; the password from its file, never from the command line.
        with open(os.environ["SLUICE_KAFKA_PASSWORD_FILE"]) as f:
            password = f.read().strip()
        config.update({"bootstrap.servers": os.environ.get("SLUICE_KAFKA_SASL_BROKERS", args.brokers),
                       "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                       "sasl.username": principal, "sasl.password": password,
                       "ssl.ca.location": os.environ["SLUICE_KAFKA_SASL_CA"]})

    # Read the answers produced from now on: every partition of the results topic at its end.
    # A principal may use only groups named after it (ci-*): prefix the group with it.
    group = (principal + "-" if principal else "") + "intake-example-" + args.id
    answers = Consumer({**config, "group.id": group, "enable.auto.commit": False})
    partitions = answers.list_topics(args.results_topic, timeout=10).topics[args.results_topic].partitions
    answers.assign([TopicPartition(args.results_topic, n,
                                   answers.get_watermark_offsets(TopicPartition(args.results_topic, n),
                                                                 timeout=10)[1])
                    for n in partitions])

    submission = {"submission_id": args.id,
                  "release": {"app": args.app, "tag": args.tag,
                              "artifact_url": args.artifact_url, "sha256": args.sha256}}
    producer = Producer({**config, "enable.idempotence": True})
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
