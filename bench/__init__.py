"""`python -m bench`: the router's throughput and latency against its pipeline's own ceilings.

One command starts a real Apache Kafka broker and PostgreSQL (or uses the ones named by
`ROUTER_TEST_KAFKA_BOOTSTRAP_SERVERS` / `ROUTER_TEST_DATABASE_URL`), measures what bare code
can do on this machine (ceiling (a): HTTP; ceiling (b): Kafka -> PostgreSQL), then drives the
real service with signed webhooks from every provider and reports the ratios.
"""
