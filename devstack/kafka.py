"""A single-node Apache Kafka broker in KRaft mode, from Maven Central jars.

The jars are resolved once with `mvn` (the newest 4.x of `org.apache.kafka:kafka_2.13` and
its runtime dependencies) into a cache outside the repository, then reused.
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
    """One broker+controller process on free loopback ports, with its data in a temp folder."""

    def __init__(
        self, *, partitions: int = 4, heap: str = "768m", production_gc: bool = False
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
        self.port = 0
        self.controller_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.workdir: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> str:
        jars = kafka_jars()
        self.workdir = Path(tempfile.mkdtemp(prefix="router-kafka-"))
        self.port, self.controller_port = free_port(), free_port()
        config = self.workdir / "server.properties"
        config.write_text(self._properties())
        (self.workdir / "log4j2.properties").write_text(
            "rootLogger.level = WARN\nrootLogger.appenderRef.file.ref = FILE\n"
            "appender.file.type = File\nappender.file.name = FILE\n"
            f"appender.file.fileName = {self.workdir / 'broker.log'}\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = %d %p %c - %m%n\n"
        )
        classpath = f"{jars}/*"
        java = [
            "java",
            f"-Xmx{self.heap}",
            "-Xms256m",
            *self.gc_options,
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp",
            classpath,
        ]
        subprocess.run(
            [
                *java,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                uuid.uuid4().hex[:22],
                "-c",
                str(config),
            ],
            check=True,
            capture_output=True,
        )
        out = open(self.workdir / "stdout.log", "wb")  # noqa: SIM115 - lives as long as the broker
        self.process = subprocess.Popen(
            [*java, "kafka.Kafka", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(
            self.port,
            timeout,
            alive=lambda: self.process is not None and self.process.poll() is None,
        )
        return self.bootstrap_servers

    def _properties(self) -> str:
        assert self.workdir is not None
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={self.workdir / 'data'}",
                f"num.partitions={self.partitions}",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
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
