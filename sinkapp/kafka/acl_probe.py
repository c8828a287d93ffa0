"""What the client's principal may do, asked of Kafka itself (no admin rights needed).

Who calls: :mod:`sinkapp.kafka.acls` (``check --connect`` and the worker's start-up checks) and
:func:`sinkapp.kafka.admin.ensure_topic` (:func:`denied_message` when CREATE is refused);
``sinkapp_testkit.kafka.acls`` reuses the code tables.

Three requests, each answered for the caller's own principal (KIP-430):

* Metadata v8 with ``include_topic_authorized_operations``: per topic, the operations the
  principal is allowed (a bit field); a topic it may not even DESCRIBE comes back with
  TOPIC_AUTHORIZATION_FAILED, a missing topic it may describe with UNKNOWN_TOPIC_OR_PARTITION
  and its operations all the same.
* FindCoordinator + DescribeGroups v3 with ``include_authorized_operations``: the group's.
* CreateTopics with ``validate_only``: would this topic be created (CREATE on the topic or on
  the cluster)? Nothing is created.

aiokafka 0.14 sends Metadata up to v5 and parses DescribeGroups v3 with the v2 response schema,
so the two request versions are declared here with aiokafka's protocol classes and sent through
the admin client's own connection (:mod:`sinkapp.faustio.requests`, the private aiokafka API).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.protocol.admin import DescribeGroupsResponse_v3
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.coordination import FindCoordinatorRequest
from aiokafka.protocol.types import Array, Boolean, Int16, Int32, Schema, String

from sinkapp.faustio import requests

#: Kafka's AclOperation codes (the bit of each in an ``authorized_operations`` field)
OPERATIONS = {"unknown": 0, "any": 1, "all": 2, "read": 3, "write": 4, "create": 5, "delete": 6, "alter": 7,
              "describe": 8, "cluster_action": 9, "describe_configs": 10, "alter_configs": 11,
              "idempotent_write": 12, "create_tokens": 13, "describe_tokens": 14}
#: Kafka's ResourceType codes
RESOURCE_TYPES = {"any": 1, "topic": 2, "group": 3, "cluster": 4, "transactional_id": 5, "delegation_token": 6,
                  "user": 7}
TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED, UNKNOWN_TOPIC = 29, 30, 3
_UNREPORTED = -2147483648               # INT32 min: the broker did not fill the field
_COORDINATOR_WAIT = (14, 15, 16)        # COORDINATOR_LOAD_IN_PROGRESS, _NOT_AVAILABLE, NOT_COORDINATOR

_S = String("utf-8")


class MetadataResponse_v8(Response):
    API_KEY = 3
    API_VERSION = 8
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("brokers", Array(("node_id", Int32), ("host", _S), ("port", Int32), ("rack", _S))),
        ("cluster_id", _S),
        ("controller_id", Int32),
        ("topics", Array(("error_code", Int16), ("topic", _S), ("is_internal", Boolean),
                         ("partitions", Array(("error_code", Int16), ("partition", Int32), ("leader", Int32),
                                              ("leader_epoch", Int32), ("replicas", Array(Int32)),
                                              ("isr", Array(Int32)), ("offline_replicas", Array(Int32)))),
                         ("topic_authorized_operations", Int32))),
        ("cluster_authorized_operations", Int32),
    )


class MetadataRequest_v8(RequestStruct):
    API_KEY = 3
    API_VERSION = 8
    RESPONSE_TYPE = MetadataResponse_v8
    SCHEMA = Schema(("topics", Array(_S)), ("allow_auto_topic_creation", Boolean),
                    ("include_cluster_authorized_operations", Boolean),
                    ("include_topic_authorized_operations", Boolean))


class AuthorizedMetadataRequest(Request[MetadataRequest_v8]):
    """Metadata of ``topics`` with the caller's authorized operations on each (never auto-creates)."""

    API_KEY = 3

    def __init__(self, topics: list[str]) -> None:
        self._topics = topics

    def build(self, request_struct_class: type[MetadataRequest_v8]) -> MetadataRequest_v8:
        return request_struct_class(self._topics, False, False, True)


class DescribeGroupsRequest_v3(RequestStruct):
    API_KEY = 15
    API_VERSION = 3
    RESPONSE_TYPE = DescribeGroupsResponse_v3
    SCHEMA = Schema(("groups", Array(_S)), ("include_authorized_operations", Boolean))


class AuthorizedDescribeGroupsRequest(Request[DescribeGroupsRequest_v3]):
    API_KEY = 15

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(self, request_struct_class: type[DescribeGroupsRequest_v3]) -> DescribeGroupsRequest_v3:
        return request_struct_class(self._groups, True)


def operations(bits: int) -> frozenset[str] | None:
    """The operation names set in an ``authorized_operations`` bit field; None when unreported."""
    if bits == _UNREPORTED:
        return None
    return frozenset(name for name, code in OPERATIONS.items() if bits & (1 << code))


async def topic_operations(admin: Any, topics: list[str]) -> dict[str, tuple[bool | None, frozenset[str] | None]]:
    """Per topic: (exists, allowed operations). ``exists`` is None when the principal may not
    describe it (then the operations are empty); operations are None when the broker does not
    report them (Kafka before 2.3)."""
    resp = await requests.send(admin, AuthorizedMetadataRequest(topics))
    out: dict[str, tuple[bool | None, frozenset[str] | None]] = {}
    for error_code, name, _internal, _parts, bits in resp.topics:
        if error_code == TOPIC_AUTHORIZATION_FAILED:
            out[name] = (None, frozenset())
        else:
            out[name] = (error_code != UNKNOWN_TOPIC, operations(bits))
    return out


async def group_operations(admin: Any, group: str, wait_s: float = 15.0) -> frozenset[str] | None:
    """The principal's operations on consumer group ``group`` (empty: not even DESCRIBE).
    Waits up to ``wait_s`` while a fresh cluster elects the coordinator; TimeoutError after."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        found = await requests.send(admin, FindCoordinatorRequest(group, 0))
        if found.error_code == GROUP_AUTHORIZATION_FAILED:
            return frozenset()
        if found.error_code == 0:
            resp = await requests.send_to_node(admin, found.coordinator_id, AuthorizedDescribeGroupsRequest([group]))
            (entry,) = resp.groups
            if entry[0] == GROUP_AUTHORIZATION_FAILED:
                return frozenset()
            if entry[0] == 0:
                return operations(entry[-1])
            code = entry[0]
        else:
            code = found.error_code
        if code not in _COORDINATOR_WAIT or loop.time() > deadline:
            raise TimeoutError(f"the coordinator of group {group} did not answer (error code {code})")
        await asyncio.sleep(0.3)


async def create_refused(admin: Any, topic: str, *, partitions: int, replication_factor: int,
                         configs: dict[str, str]) -> tuple[int, str] | None:
    """None when creating ``topic`` would succeed now (or it exists), else (error code, message).
    A CreateTopics request with ``validate_only``: nothing is created."""
    from aiokafka.admin import NewTopic

    resp = await admin.create_topics([NewTopic(topic, partitions, replication_factor, topic_configs=configs)],
                                     validate_only=True)
    for err in resp.topic_errors:
        code, message = err[1], (err[2] if len(err) > 2 else "") or ""
        if code not in (0, 36):           # 36: TOPIC_ALREADY_EXISTS
            return code, message
    return None


def principal_of(security_protocol: str, sasl_username: str | None) -> str:
    """The principal the broker sees for these client settings (as ACLs name it)."""
    if security_protocol.startswith("SASL") and sasl_username:
        return f"User:{sasl_username}"
    if security_protocol == "SSL":
        return "User:<the client certificate's subject>"
    return "User:ANONYMOUS"


def grant_command(bootstrap: str, principal: str, resource: str, name: str, operation: str) -> str:
    """The ``kafka-acls.sh`` command that grants it."""
    op = "".join(w.capitalize() for w in operation.split("_"))
    return (f"kafka-acls.sh --bootstrap-server {bootstrap} --add --allow-principal {principal} "
            f"--operation {op} --{resource} {name}")


def acl_what(principal: str, resource: str, name: str, operation: str) -> str:
    """How an ACL is named in every check line and error: ``Kafka ACL READ on topic orders for User:alice``."""
    return f"Kafka ACL {operation.upper()} on {resource} {name} for {principal}"


def denied_detail(bootstrap: str, principal: str, resource: str, name: str, operation: str, why: str) -> str:
    return f"not granted ({why}); grant it: {grant_command(bootstrap, principal, resource, name, operation)}"


def denied_message(bootstrap: str, principal: str, resource: str, name: str, operation: str, why: str) -> str:
    """What a refused ACL is called everywhere: resource type, name, operation, principal, the fix."""
    return (f"{acl_what(principal, resource, name, operation)}: "
            f"{denied_detail(bootstrap, principal, resource, name, operation, why)}")
