"""ACLs on a test broker: create and delete them through the Kafka protocol (CreateAcls/DeleteAcls v1).

Who calls what: tests (``tests/test_acl_kafka.py``) and benchmarks on a
``LocalKafka(authorizer=True)`` call :meth:`~.admin.TopicAdmin.create_acls` /
:meth:`~.admin.TopicAdmin.delete_acls` (sync) or :func:`acreate_acls` / :func:`adelete_acls`
(async, any bootstrap address). They connect to the PLAINTEXT listener, whose principal
(``User:ANONYMOUS``) is a super user of such a broker, and wait until the broker's authorizer
lists the change (DescribeAcls), so the next request is decided by the new ACLs.

aiokafka 0.14 has the request classes but no admin methods for them; every failure is an
:class:`sinkapp.errors.InfraError`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sinkapp.errors import InfraError
from sinkapp.kafka.acl_probe import OPERATIONS, RESOURCE_TYPES

PATTERN_TYPES = {"any": 1, "match": 2, "literal": 3, "prefixed": 4}
PERMISSIONS = {"any": 1, "deny": 2, "allow": 3}


@dataclass(frozen=True)
class Acl:
    """One ACL binding: ``principal`` may (``permission``) do ``operation`` on a resource.

    ``resource_type``: topic, group, cluster (name ``kafka-cluster``), transactional_id;
    ``operation``: read, write, create, describe, describe_configs, all, ...;
    ``pattern``: literal or prefixed."""

    principal: str
    resource_type: str
    name: str
    operation: str
    pattern: str = "literal"
    permission: str = "allow"
    host: str = "*"

    def codes(self) -> tuple[int, str, int, str, str, int, int]:
        """The fields of CreateAcls/DeleteAcls v1, in order."""
        try:
            return (RESOURCE_TYPES[self.resource_type], self.name, PATTERN_TYPES[self.pattern], self.principal,
                    self.host, OPERATIONS[self.operation], PERMISSIONS[self.permission])
        except KeyError as exc:
            raise InfraError(f"{self}: unknown {exc.args[0]!r}") from None


async def _listed(admin: object, acl: Acl) -> bool:
    from aiokafka.protocol.admin import DescribeAclsRequest

    rt, name, pt, principal, host, op, perm = acl.codes()
    resp = await admin._send_request(DescribeAclsRequest(rt, name, pt, principal, host, op, perm))  # type: ignore[attr-defined]
    if resp.error_code:
        raise InfraError(f"DescribeAcls failed: error {resp.error_code} {resp.error_message}")
    return any(res[3] for res in resp.resources)


async def _change(bootstrap: str, acls: Iterable[Acl], *, create: bool, timeout_s: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        todo = list(acls)
        for acl in todo:
            req = (CreateAclsRequest if create else DeleteAclsRequest)(*acl.codes())
            resp = await admin._send_request(req)
            results = resp.creation_responses if create else resp.filter_responses
            for res in results:
                if res[0]:
                    raise InfraError(f"{'creating' if create else 'deleting'} {acl} failed: error {res[0]} {res[1]}")
        deadline = time.monotonic() + timeout_s
        while todo:
            todo = [a for a in todo if await _listed(admin, a) != create]
            if todo and time.monotonic() > deadline:
                raise InfraError(f"the broker's authorizer did not apply {todo} within {timeout_s:g}s")
            if todo:
                await asyncio.sleep(0.05)
    finally:
        await admin.close()


async def acreate_acls(bootstrap: str, acls: Iterable[Acl], timeout_s: float = 15) -> None:
    """Create ``acls`` (through a super user's listener) and wait until the broker applies them."""
    await _change(bootstrap, acls, create=True, timeout_s=timeout_s)


async def adelete_acls(bootstrap: str, acls: Iterable[Acl], timeout_s: float = 15) -> None:
    """Delete the bindings equal to ``acls`` and wait until the broker no longer lists them."""
    await _change(bootstrap, acls, create=False, timeout_s=timeout_s)
