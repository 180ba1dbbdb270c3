"""Apache Kafka brokers in KRaft mode, from Maven Central jars: one, or a cluster of several.

The jars are resolved once with `mvn` (the newest 4.x of `org.apache.kafka:kafka_2.13` and
its runtime dependencies) into a cache outside the repository, then reused. A broker of a
cluster can be killed and started again on its own data and ports (fault injection).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

from devstack.net import free_port, wait_for_port

POM = Path(__file__).with_name("kafka-pom.xml")


def cache_dir() -> Path:
    base = os.environ.get("ROUTER_DEVSTACK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "conversation-router"
    )
    return Path(base) / "kafka"


def kafka_jars() -> Path:
    """The folder of Kafka's runtime jars, resolving them with Maven on first use."""
    target = cache_dir() / "libs"
    if any(target.glob("kafka_2.13-*.jar")):
        return target
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (`mvn`) is needed once to fetch Apache Kafka's jars")
    staging = Path(
        tempfile.mkdtemp(
            prefix="kafka-libs-",
            dir=cache_dir().parent.as_posix() if cache_dir().parent.exists() else None,
        )
    )
    command = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(
            f"resolving Apache Kafka with Maven failed:\n{result.stdout}{result.stderr}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        staging.rename(target)
    except OSError:  # another run resolved it at the same moment
        shutil.rmtree(staging, ignore_errors=True)
    return target


def kafka_version(jars: Path) -> str:
    jar = next(jars.glob("kafka_2.13-*.jar"))
    return jar.stem.removeprefix("kafka_2.13-")


class KafkaBroker:
    """One broker+controller process on free loopback ports, with its data in a temp folder.

    Alone it is its own quorum; in a `KafkaCluster` it is one voter of several, and topics
    are replicated `replication` times (with `min_insync` replicas to acknowledge a write).
    """

    def __init__(
        self,
        *,
        partitions: int = 4,
        heap: str = "768m",
        production_gc: bool = False,
        node_id: int = 1,
        replication: int = 1,
        min_insync: int = 1,
    ) -> None:
        self.partitions = partitions
        self.heap = heap
        # Tests want a small, quiet JVM (serial collector); measurements want the collector
        # Kafka's own start script runs brokers with, whose pauses stay short.
        self.gc_options = (
            ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35"]
            if production_gc
            else ["-XX:+UseSerialGC"]
        )
        self.node_id = node_id
        self.replication = replication
        self.min_insync = min_insync
        self.port = 0
        self.controller_port = 0
        # "id@host:port" of every controller; empty: this broker alone.
        self.voters = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.workdir: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def prepare(self, cluster_id: str | None = None, workdir: Path | None = None) -> None:
        """Pick ports (unless given), write the configuration and format the data folder.

        The folder is a new temporary one unless `workdir` names one to keep.
        """
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="router-kafka-"))
        self.port = self.port or free_port()
        self.controller_port = self.controller_port or free_port()
        self.voters = self.voters or f"{self.node_id}@127.0.0.1:{self.controller_port}"
        self.write_configuration()
        subprocess.run(
            [
                *self._java(),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id or uuid.uuid4().hex[:22],
                "-c",
                str(self.workdir / "server.properties"),
            ],
            check=True,
            capture_output=True,
        )

    def write_configuration(self) -> None:
        """The broker's and its logger's configuration files, in its folder."""
        assert self.workdir is not None
        (self.workdir / "server.properties").write_text(self._properties())
        (self.workdir / "log4j2.properties").write_text(
            "rootLogger.level = WARN\nrootLogger.appenderRef.file.ref = FILE\n"
            "appender.file.type = File\nappender.file.name = FILE\n"
            f"appender.file.fileName = {self.workdir / 'broker.log'}\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = %d %p %c - %m%n\n"
        )

    def _java(self) -> list[str]:
        assert self.workdir is not None
        return [
            "java",
            f"-Xmx{self.heap}",
            "-Xms256m",
            *self.gc_options,
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp",
            f"{kafka_jars()}/*",
        ]

    def launch(self) -> None:
        """Start the broker process on its prepared (or earlier used) data folder."""
        assert self.workdir is not None
        out = open(self.workdir / "stdout.log", "ab")  # noqa: SIM115 - lives as long as the broker
        self.process = subprocess.Popen(
            [*self._java(), "kafka.Kafka", str(self.workdir / "server.properties")],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_listening(self, timeout: float = 60.0) -> None:
        """Wait until the broker accepts connections on its client port."""
        wait_for_port(
            self.port,
            timeout,
            alive=lambda: self.process is not None and self.process.poll() is None,
        )

    def start(self, timeout: float = 60.0) -> str:
        """Prepare, launch and wait for a broker of its own; its bootstrap address."""
        self.prepare()
        self.launch()
        self.wait_listening(timeout)
        return self.bootstrap_servers

    def kill(self) -> None:
        """SIGKILL the broker (a crash); its data stays for `launch`."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(15)
        self.process = None

    def _properties(self) -> str:
        assert self.workdir is not None
        internal = min(self.replication, 3)
        return "\n".join(
            [
                "process.roles=broker,controller",
                f"node.id={self.node_id}",
                f"controller.quorum.voters={self.voters}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={self.workdir / 'data'}",
                f"num.partitions={self.partitions}",
                f"default.replication.factor={self.replication}",
                f"min.insync.replicas={self.min_insync}",
                f"offsets.topic.replication.factor={internal}",
                "offsets.topic.num.partitions=4",
                f"transaction.state.log.replication.factor={internal}",
                f"transaction.state.log.min.isr={min(self.min_insync, internal)}",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "unclean.leader.election.enable=false",
                "",
            ]
        )

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL) and delete its data."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.process = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def log_tail(self, lines: int = 40) -> str:
        if self.workdir is None:
            return ""
        text = ""
        for name in ("stdout.log", "broker.log"):
            path = self.workdir / name
            if path.exists():
                text += "".join(path.read_text(errors="replace").splitlines(True)[-lines:])
        return text


class KafkaCluster:
    """`size` brokers, each also a controller voter, with replicated topics.

    Topics default to `size` replicas with `min_insync` of them needed to acknowledge a
    write (`acks=all`), so one broker may be down without losing a write or refusing one.
    """

    def __init__(self, size: int = 3, *, min_insync: int = 2, heap: str = "512m") -> None:
        self.brokers = [
            KafkaBroker(node_id=n, heap=heap, replication=size, min_insync=min_insync)
            for n in range(1, size + 1)
        ]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(broker.bootstrap_servers for broker in self.brokers)

    def start(self, timeout: float = 90.0) -> str:
        """Format every broker with one cluster id, launch them all, wait for each."""
        for broker in self.brokers:
            broker.port, broker.controller_port = free_port(), free_port()
        voters = ",".join(f"{b.node_id}@127.0.0.1:{b.controller_port}" for b in self.brokers)
        cluster_id = uuid.uuid4().hex[:22]
        for broker in self.brokers:
            broker.voters = voters
            broker.prepare(cluster_id)
        for broker in self.brokers:
            broker.launch()
        for broker in self.brokers:
            broker.wait_listening(timeout)
        return self.bootstrap_servers

    def stop(self) -> None:
        """Stop every broker (all told at once: none waits for the others); delete their data."""
        for broker in self.brokers:
            if broker.process is not None and broker.process.poll() is None:
                os.killpg(broker.process.pid, signal.SIGTERM)
        for broker in self.brokers:
            broker.stop()
