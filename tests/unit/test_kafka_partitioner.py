"""The inbound producer puts each key where Kafka's default partitioner puts it."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as kafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from adapters.kafka.producer import _key_partitioner, murmur2


@given(st.binary(max_size=600), st.integers(1, 64))
def test_a_key_goes_where_the_default_partitioner_puts_it(key: bytes, count: int) -> None:
    partitions = list(range(count))
    expected = DefaultPartitioner()(key, partitions, partitions)
    assert _key_partitioner(key, partitions, partitions) == expected
    # Again, from the cache.
    assert _key_partitioner(key, partitions, partitions) == expected


def test_a_key_follows_the_topic_when_it_grows() -> None:
    key = b"sms:+14155550199|+14155550100"
    for count in (4, 12, 13):
        partitions = list(range(count))
        assert _key_partitioner(key, partitions, partitions) == DefaultPartitioner()(
            key, partitions, partitions
        )


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    assert {_key_partitioner(None, [0, 1, 2, 3], [1, 3]) for _ in range(50)} <= {1, 3}
    assert _key_partitioner(None, [0, 1, 2], []) in {0, 1, 2}


@given(st.binary(max_size=600))
def test_murmur2_is_kafkas(data: bytes) -> None:
    assert murmur2(data) == kafka_murmur2(data)


def test_murmur2_of_every_tail_length() -> None:
    for length in range(64):
        data = bytes(range(200, 200 - length, -1))
        assert murmur2(data) == kafka_murmur2(data)
