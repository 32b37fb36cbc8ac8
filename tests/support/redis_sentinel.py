"""Real Redis Sentinel (Debian's redis-server and redis-sentinel): one primary, one replica,
three sentinels on free loopback ports, each in a directory of its own; a failover ~1-3 s."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import redis

from tests.support.redis_server import RedisServer, free_port

SERVICE = "mymaster"


def _within(seconds: float, condition: object, what: str) -> None:
    """Poll `condition()` (Redis errors count as false) until true; RuntimeError after."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if condition():  # type: ignore[operator]
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis sentinel fixture: {what} not within {seconds} s")
        time.sleep(0.05)


class SentinelGroup:
    """Primary, replica and three sentinels monitoring them as `mymaster` (quorum 2).

    `password`: the data nodes require it; `sentinel_password`: the sentinels require it.
    """

    def __init__(self, directory: Path, password: str | None = None,
                 sentinel_password: str | None = None) -> None:
        self.directory = directory
        self.password = password
        self.sentinel_password = sentinel_password
        self.primary = RedisServer(directory / "primary", password=password)
        self.replica = RedisServer(directory / "replica", password=password,
                                   extra=("--replicaof", "127.0.0.1", str(self.primary.port)))
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    def url(self, db: int = 0, scheme: str = "redis+sentinel") -> str:
        """The -state URL of the group, with both passwords when they are set."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        query = (f"?sentinel_password={quote(self.sentinel_password, safe='')}"
                 if self.sentinel_password else "")
        return f"{scheme}://{auth}{hosts}/{SERVICE}/{db}{query}"

    def _sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_connect_timeout=0.2, socket_timeout=1,
                           password=self.sentinel_password, decode_responses=True)

    def _sentinel_conf(self, port: int, home: Path) -> str:
        """sentinel.conf of the sentinel on `port`: monitor, fast failover, the passwords."""
        conf = (f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\n"
                f"dir {home}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 3000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n")
        if self.password:
            conf += f"sentinel auth-pass {SERVICE} {self.password}\n"
        if self.sentinel_password:  # also what each sentinel gives the others
            conf += f"requirepass {self.sentinel_password}\n"
        return conf

    def start(self) -> SentinelGroup:
        self.primary.start()
        self.replica.start()
        with redis.Redis(port=self.replica.port, password=self.password,
                         decode_responses=True) as replica:
            _within(10, lambda: replica.info("replication")["master_link_status"] == "up",
                    "replica in sync")
        binary = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
        for port in self.sentinel_ports:
            home = self.directory / f"sentinel-{port}"
            home.mkdir(parents=True, exist_ok=True)
            config = home / "sentinel.conf"
            config.write_text(self._sentinel_conf(port, home))
            self.sentinels.append(subprocess.Popen(
                [binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in self.sentinel_ports:
            with self._sentinel(port) as sentinel:
                _within(20, lambda: len(sentinel.sentinel_sentinels(SERVICE)) == 2
                        and len(sentinel.sentinel_slaves(SERVICE)) == 1,
                        "sentinels know each other and the replica")
        return self

    def primary_port(self) -> int | None:
        """The port the sentinels name as primary now; None while they name a dead one."""
        with self._sentinel(self.sentinel_ports[0]) as sentinel:
            address = sentinel.sentinel_get_master_addr_by_name(SERVICE)
        return int(address[1]) if address else None

    def wait_promoted(self, within: float = 30) -> None:
        """Until the sentinels name the replica as primary and it takes writes."""
        def promoted() -> bool:
            if self.primary_port() != self.replica.port:
                return False
            with redis.Redis(port=self.replica.port, socket_timeout=1,
                             password=self.password) as node:
                return bool(node.info("replication")["role"] == "master")
        _within(within, promoted, "failover to the replica")

    def flush(self) -> None:
        with redis.Redis(port=self.primary_port() or self.primary.port,
                         password=self.password) as client:
            client.flushall()
            client.execute_command("WAIT", 1, 1000)

    def stop(self) -> None:
        for process in self.sentinels:
            if process.poll() is None:
                process.terminate()
        for process in self.sentinels:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self.sentinels = []
        self.replica.kill()
        self.primary.kill()
