"""Real PostgreSQL and Apache Kafka on loopback, for tests and benchmarks.

`python -m devstack run -- CMD...` starts both, runs CMD with `ROUTER_TEST_DATABASE_URL`
and `ROUTER_TEST_KAFKA_BOOTSTRAP_SERVERS` set, and stops both however CMD ends.
`python -m devstack up` starts both for running the router by hand, with their data kept
under `var/devstack/`, and prints the `ROUTER_` settings to export.
"""
