"""Apache Kafka through aiokafka: the producer, the batch consumer and topic setup."""
