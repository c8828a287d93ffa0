"""Topic helpers over aiokafka's admin client, usable against any broker.

Who calls what:

* ``tests/conftest.py``'s ``topic_factory`` calls ``kafka.create_topic``/``kafka.delete_topic``
  on the session broker, a :class:`~sinkapp_testkit.kafka.broker.LocalKafka` or, when
  ``SINKAPP_TEST_BOOTSTRAP`` names a broker someone else runs, an :class:`ExistingKafka`; both
  get those methods from :class:`TopicAdmin`. The demo (``sinkapp demo``), the benchmarks and
  some tests call ``create_topic`` on a LocalKafka of their own; async tests await
  :meth:`TopicAdmin.acreate_topic`/:meth:`TopicAdmin.adelete_topic`.
* :meth:`TopicAdmin.create_acls`/:meth:`TopicAdmin.delete_acls` (:mod:`.acls`) grant and revoke
  ACLs on a broker started with ``authorizer=True``.
* :func:`acreate_topic`/:func:`adelete_topic` take a bootstrap address and work without any of
  the classes.
* ``LocalKafka._wait_ready`` and :meth:`ExistingKafka.wait_ready` poll
  :func:`metadata_cluster_id` through :func:`run_sync` until the broker answers.

Every failure is raised as :class:`sinkapp.errors.InfraError`. aiokafka is imported lazily so
that importing this package (e.g. for the CLI's ``fetch``) does not need it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from sinkapp.errors import InfraError

_T = TypeVar("_T")


def run_sync(factory: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion from sync code, even when an event loop is running."""
    async def runner() -> _T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(runner())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(runner())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="LocalKafka-sync")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


async def metadata_cluster_id(bootstrap: str) -> str | None:
    """The cluster id a metadata response reports, or None while it lists no broker."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return str(cluster.get("cluster_id")) if cluster.get("brokers") else None
    finally:
        await admin.close()


async def acreate_topic(bootstrap: str, name: str, partitions: int = 1,
                        config: dict[str, str] | None = None, timeout_s: float = 30) -> None:
    """Create ``name`` and wait until all its partitions have a leader."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import for_code

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resp = await admin.create_topics(
            [NewTopic(name, partitions, 1, topic_configs=dict(config or {}))],
            timeout_ms=int(timeout_s * 1000))
        for topic, code, message in resp.topic_errors:
            if code:
                raise InfraError(f"could not create topic {topic!r}: {for_code(code).__name__}: {message}")
        deadline = time.monotonic() + timeout_s
        while True:
            (meta,) = await admin.describe_topics([name])
            parts = meta["partitions"]
            if not meta["error_code"] and len(parts) == partitions and all(p["leader"] >= 0 for p in parts):
                return
            if time.monotonic() > deadline:
                raise InfraError(f"topic {name!r} has no leader for every partition after {timeout_s:g}s")
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


async def adelete_topic(bootstrap: str, name: str, timeout_s: float = 30) -> None:
    """Delete ``name`` (a missing topic is fine) and wait until metadata drops it."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import for_code

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resp = await admin.delete_topics([name], timeout_ms=int(timeout_s * 1000))
        for topic, code in resp.topic_error_codes:
            if code and code != 3:  # 3 = UNKNOWN_TOPIC_OR_PARTITION
                raise InfraError(f"could not delete topic {topic!r}: {for_code(code).__name__}")
        deadline = time.monotonic() + timeout_s
        while name in await admin.list_topics():
            if time.monotonic() > deadline:
                raise InfraError(f"topic {name!r} still listed {timeout_s:g}s after deletion")
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


class TopicAdmin:
    """Topic helpers shared by :class:`LocalKafka` and :class:`ExistingKafka`."""

    @property
    def bootstrap_servers(self) -> str:
        raise NotImplementedError

    async def acreate_topic(self, name: str, partitions: int = 1, config: dict[str, str] | None = None,
                            timeout_s: float = 30) -> None:
        """Create a topic and wait until every partition has a leader. Raises InfraError."""
        await acreate_topic(self.bootstrap_servers, name, partitions, config, timeout_s)

    async def adelete_topic(self, name: str, timeout_s: float = 30) -> None:
        """Delete a topic (missing is fine) and wait until metadata no longer lists it."""
        await adelete_topic(self.bootstrap_servers, name, timeout_s)

    def create_topic(self, name: str, partitions: int = 1, config: dict[str, str] | None = None) -> None:
        """Sync :meth:`acreate_topic`; works inside a running event loop too."""
        run_sync(lambda: self.acreate_topic(name, partitions, config))

    def delete_topic(self, name: str) -> None:
        """Sync :meth:`adelete_topic`."""
        run_sync(lambda: self.adelete_topic(name))

    def create_acls(self, acls: Iterable[Any]) -> None:
        """Create :class:`~.acls.Acl` bindings and wait until the broker applies them (a broker
        started with ``authorizer=True``; the PLAINTEXT listener's principal is a super user)."""
        from .acls import acreate_acls

        run_sync(lambda: acreate_acls(self.bootstrap_servers, list(acls)))

    def delete_acls(self, acls: Iterable[Any]) -> None:
        """Delete :class:`~.acls.Acl` bindings and wait until the broker no longer applies them."""
        from .acls import adelete_acls

        run_sync(lambda: adelete_acls(self.bootstrap_servers, list(acls)))


class ExistingKafka(TopicAdmin):
    """A broker someone else runs (``SINKAPP_TEST_BOOTSTRAP``), with LocalKafka's topic helpers.

    It has no SASL listener and cannot be stopped or restarted from here.
    """

    sasl_port: int | None = None

    def __init__(self, bootstrap_servers: str) -> None:
        self._bootstrap = bootstrap_servers

    @property
    def bootstrap_servers(self) -> str:
        return self._bootstrap

    def wait_ready(self, timeout_s: float = 30) -> ExistingKafka:
        """Wait until a metadata request lists a broker, else InfraError."""
        deadline = time.monotonic() + timeout_s
        error = ""
        while time.monotonic() < deadline:
            try:
                if run_sync(lambda: metadata_cluster_id(self.bootstrap_servers)):
                    return self
            except Exception as exc:
                error = repr(exc)
            time.sleep(0.5)
        raise InfraError(f"no Kafka broker answers at {self.bootstrap_servers} within {timeout_s:g}s {error}")
