"""Real PostgreSQL and Apache Kafka on loopback, for tests and benchmarks.

`python -m devstack run -- CMD...` starts both, runs CMD with `ROUTER_TEST_DATABASE_URL`
and `ROUTER_TEST_KAFKA_BOOTSTRAP_SERVERS` set, and stops both however CMD ends.
"""
