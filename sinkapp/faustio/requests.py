"""Raw Kafka requests through an aiokafka admin client's own connections (private aiokafka API).

Who calls: :mod:`sinkapp.kafka.acl_probe` (Metadata v8 and DescribeGroups v3 with the caller's
authorized operations, FindCoordinator), which aiokafka's public admin API does not offer.
``tests/test_faust_contract.py`` pins the two methods used here.
"""

from __future__ import annotations

from typing import Any


async def send(admin: Any, request: Any) -> Any:
    """``request`` to any broker (the admin client's least loaded node)."""
    return await admin._send_request(request)


async def send_to_node(admin: Any, node_id: int, request: Any) -> Any:
    """``request`` to broker ``node_id`` (a group's coordinator)."""
    return await admin._send_request_to_node(node_id, request)
