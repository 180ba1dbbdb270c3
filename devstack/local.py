"""`python -m devstack up`: PostgreSQL and Apache Kafka for running the router by hand.

Unlike the tests' throwaway servers, these keep their data between runs (under
`var/devstack/` by default) and their ports: the broker on the ports picked on the first run,
PostgreSQL on a Unix socket in its data folder's runtime directory. The URLs to export are
printed and written to `<data>/env`, so another shell can `source` them.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from devstack.kafka import KafkaBroker

DEFAULT_ROOT = Path("var/devstack")


class KeptKafkaBroker(KafkaBroker):
    """A single broker whose data folder, cluster and ports outlive the process."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def prepare(self, cluster_id: str | None = None, workdir: Path | None = None) -> None:
        """Format the data folder on the first run only; later runs reuse it and its ports."""
        ports_file = self.root / "ports.json"
        if ports_file.exists():
            saved = json.loads(ports_file.read_text())
            self.port, self.controller_port = saved["port"], saved["controller_port"]
            self.voters = f"{self.node_id}@127.0.0.1:{self.controller_port}"
            self.workdir = self.root
            self.write_configuration()
            return
        self.root.mkdir(parents=True, exist_ok=True)
        super().prepare(cluster_id, workdir=self.root)
        ports_file.write_text(
            json.dumps({"port": self.port, "controller_port": self.controller_port})
        )

    def stop(self) -> None:
        """Stop the broker; its data stays for the next run."""
        workdir, self.workdir = self.workdir, None
        try:
            super().stop()
        finally:
            self.workdir = workdir


def environment(database_url: str, bootstrap_servers: str) -> dict[str, str]:
    """The settings `router` needs to use this stack."""
    return {
        "ROUTER_DATABASE_URL": database_url,
        "ROUTER_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
    }


def export_lines(env: dict[str, str]) -> str:
    """`export NAME=value` lines for a POSIX shell."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())
