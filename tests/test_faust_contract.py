"""The private faust-streaming and aiokafka API sinkapp.faustio builds on (and nothing else uses).

Who reads this: whoever upgrades faust-streaming (pyproject.toml pins the range). Each test names
the Faust internal and why sinkapp needs it; a failure here means the batch consumer or the
drain hooks must be re-checked against the new Faust before the upgrade lands. The behaviour
itself is proven on the real broker (tests/test_worker_kafka.py, tests/test_exactly_once_kafka.py).
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import faust
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.tuples import ConsumerMessage, Message

from sinkapp.faustio.app import BatchApp as SinkApp
from sinkapp.faustio.consumer import BatchConsumer, BatchMessage, BatchTransport, to_batch

Base = faust_consumer.Consumer


def _src(fn: object) -> str:
    return inspect.getsource(fn)  # type: ignore[arg-type]


def test_pinned_version_range() -> None:
    major, minor, *_ = (int(x) for x in version("faust-streaming").split(".")[:3])
    assert (major, minor) == (0, 15), "sinkapp.faustio was written against faust-streaming 0.15.x"


def test_transport_is_chosen_by_app_new_transport() -> None:
    """SinkApp overrides App._new_transport to install BatchTransport before agents exist."""
    assert "transport.by_url" in _src(faust.App._new_transport)
    assert issubclass(BatchTransport, faust_aiokafka.Transport)
    assert BatchTransport.Consumer is BatchConsumer
    assert issubclass(BatchConsumer, faust_aiokafka.Consumer)


def test_getmany_contract() -> None:
    """Our getmany replaces stock's; it calls _wait_next_records and keeps stock's checks."""
    sig = inspect.signature(Base.getmany)
    assert list(sig.parameters) == ["self", "timeout"]
    src = _src(Base.getmany)
    for name in ("_wait_next_records", "flow_active", "consumer_generation_id", "_buffered_partitions",
                 "perform_seek", "track_tp_end_offset", "_to_message"):
        assert name in src, f"stock getmany no longer uses {name}"
    assert list(inspect.signature(Base._wait_next_records).parameters) == ["self", "timeout"]


def test_drain_loop_feeds_one_message_per_yield() -> None:
    """_drain_messages hands each (tp, message) of getmany to the conductor and tracks the read
    offset by message.offset (our batch's last offset) and gaps through _add_gap (a no-op here)."""
    src = _src(Base._drain_messages)
    for name in ("getmany(timeout=", "callback(message)", "set_read_offset(tp, offset)", "_add_gap("):
        assert name in src, f"_drain_messages changed: {name} missing"
    assert list(inspect.signature(Base._add_gap).parameters) == ["self", "tp", "offset_from", "offset_to"]


def test_commit_path_reads_filter_and_new_offset() -> None:
    """Commits go force_commit → _filter_tps_with_pending_acks → _filter_committable_offsets →
    _new_offset → _commit_offsets (which drops unassigned partitions); we override the first
    and the fourth so the committed offset is the loaded watermark + 1."""
    assert "_filter_tps_with_pending_acks" in _src(Base.force_commit)
    assert "_new_offset" in _src(Base._filter_committable_offsets)
    assert "assignment" in _src(Base._commit_offsets)
    for attr in ("_acked", "_acked_index", "_unacked_messages", "_waiting_for_ack", "_committed_offset"):
        assert attr in _src(Base.__init__), f"Consumer no longer has {attr}"


def test_ack_and_wait_empty() -> None:
    """Event.ack → Message.ack → on_final_ack → Consumer.ack (ours: release only); wait_empty
    waits on _unacked_messages and _waiting_for_ack."""
    assert "on_final_ack" in _src(Message.ack)
    assert "consumer.ack" in _src(ConsumerMessage.on_final_ack)
    src = _src(Base.wait_empty)
    assert "_unacked_messages" in src and "_wait_for_ack" in src
    assert "_waiting_for_ack" in _src(Base._wait_for_ack)


def test_revoke_and_assign_hooks() -> None:
    """BatchConsumer flushes and commits before stock on_partitions_revoked forgets the partitions;
    SinkApp drains in _consumer_wait_empty (called on revoke and on stop)."""
    assert "_committed_offset.pop" in _src(Base.on_partitions_revoked)
    assert list(inspect.signature(Base.on_partitions_assigned).parameters) == ["self", "assigned", "generation_id"]
    assert "_consumer_wait_empty" in _src(faust.App._on_partitions_revoked)
    assert list(inspect.signature(faust.App._consumer_wait_empty).parameters) == ["self", "consumer", "logger"]
    assert SinkApp._consumer_wait_empty is not faust.App._consumer_wait_empty


def test_batch_message_is_a_consumer_message() -> None:
    class Rec:
        def __init__(self, offset: int) -> None:
            self.offset, self.timestamp, self.timestamp_type, self.value = offset, 1000, 0, b"{}"

    tp = faust.types.TP("t", 2)
    msg = to_batch(tp, [Rec(5), Rec(6), Rec(9)], generation_id=3, prev_last=4)
    assert isinstance(msg, BatchMessage) and isinstance(msg, ConsumerMessage)
    assert (msg.offset, msg.first_offset, msg.prev_last, msg.generation_id) == (9, 5, 4, 3)
    assert msg.tp == tp and len(msg.records) == 3


def test_worker_consumer_is_created_before_start_with_an_isolation_level() -> None:
    """BatchConsumerThread sets AIOKafkaConsumer._isolation_level after Faust created the consumer
    and before it starts (aiokafka reads it in start() to build its Fetcher)."""
    from aiokafka import AIOKafkaConsumer
    assert "isolation_level" in _src(faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer)
    assert "self._isolation_level" in _src(AIOKafkaConsumer.__init__)
    assert "isolation_level=self._isolation_level" in _src(AIOKafkaConsumer.start)


def test_position_chain_the_batch_consumer_walks() -> None:
    """BatchConsumer._positions reads aiokafka's position after a fetch through
    ``thread._ensure_consumer()._subscription.subscription.assignment.state_value(tp).position``."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.consumer import subscription_state as ss

    assert "_ensure_consumer" in dir(faust_aiokafka.AIOKafkaConsumerThread)
    assert "self._subscription" in _src(AIOKafkaConsumer.__init__)
    assert "def subscription" in _src(ss.SubscriptionState) and "def assignment" in _src(ss.Subscription)
    assert "def state_value" in _src(ss.Assignment) and "def position" in _src(ss.TopicPartitionState)


def test_seek_to_committed_asks_once_for_every_partition() -> None:
    """BatchConsumerThread.seek_to_committed replaces aiokafka's one-OffsetFetch-per-partition loop
    (Faust's perform_seek calls it at every assignment) with one
    ``consumer._coordinator.fetch_committed_offsets(partitions)``, which aiokafka's own
    ``committed`` calls with one partition; partitions without a committed offset are reset by
    ``consumer._auto_offset_reset`` at once (seek_to_beginning / seek_to_end)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.consumer.group_coordinator import GroupCoordinator

    from sinkapp.faustio.consumer import BatchConsumerThread

    assert "seek_to_committed" in _src(Base.perform_seek)
    assert "seek_to_committed" in _src(faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed)
    assert "self._coordinator.fetch_committed_offsets([partition])" in _src(AIOKafkaConsumer.committed)
    assert list(inspect.signature(GroupCoordinator.fetch_committed_offsets).parameters) == ["self", "partitions"]
    assert "self._auto_offset_reset = auto_offset_reset" in _src(AIOKafkaConsumer.__init__)
    assert BatchConsumerThread.seek_to_committed is not faust_aiokafka.AIOKafkaConsumerThread.seek_to_committed


def test_admin_client_sends_any_request_for_the_acl_probe() -> None:
    """sinkapp.kafka.acl_probe sends Metadata v8 and DescribeGroups v3 (which aiokafka's admin
    methods do not) through AIOKafkaAdminClient._send_request / _send_request_to_node."""
    from aiokafka.admin import AIOKafkaAdminClient

    assert list(inspect.signature(AIOKafkaAdminClient._send_request).parameters) == ["self", "request", "node_id"]
    assert list(inspect.signature(AIOKafkaAdminClient._send_request_to_node).parameters) == [
        "self", "node_id", "request"]


def test_app_and_consumer_attributes_read_for_pages_and_drain() -> None:
    """BatchApp reads App._consumer (is there a consumer yet) and Consumer._unacked_messages
    (forget released events); BatchConsumer.partition_offsets reads _committed_offset."""
    assert "_consumer" in _src(faust.App.consumer.fget)                   # type: ignore[attr-defined]
    assert "self._unacked_messages" in _src(Base.__init__) and "self._committed_offset" in _src(Base.__init__)


def test_no_private_faust_or_aiokafka_name_outside_faustio() -> None:
    """The adapter package is the only user of the private API: sinkapp/ outside sinkapp/faustio reaches
    Faust and aiokafka through public names only (the testkit, a test double, is not sinkapp)."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1] / "sinkapp"
    # an attribute of another object (not our own ``self._x``) with a name of Faust's or aiokafka's internals
    private = re.compile(r"(\w+)\._(?:client|subscription|consumer|committed_offset|unacked_messages|acked|"
                         r"isolation_level|new_transport|wait_next_records|thread|fetcher|coordinator|"
                         r"send_request\w*)\b")
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("faustio/"):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if any(m.group(1) != "self" for m in private.finditer(line)):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_admin_client_request_methods_faustio_requests_calls() -> None:
    """sinkapp.faustio.requests sends raw requests (the ACL probe) with these two private methods."""
    from aiokafka.admin import AIOKafkaAdminClient

    assert "request" in inspect.signature(AIOKafkaAdminClient._send_request).parameters
    assert list(inspect.signature(AIOKafkaAdminClient._send_request_to_node).parameters)[1:3] == ["node_id", "request"]


def test_conductor_resubscribes_after_a_change_and_drops_one_made_while_rebalancing() -> None:
    """sinkapp.faustio.subscribe: a route added at runtime registers its channel with the Conductor
    (``app.topics.add``, a public method), whose ``_subscriber`` task waits
    ``_resubscribe_sleep_lock_seconds`` (set low by ``quicken_resubscribe``) and resubscribes the consumer to
    every channel's topics; a change flagged while rebalancing is cleared unsubscribed (why
    ``Subscriptions.ensure`` flags it again through ``discard`` + ``add``)."""
    from faust.transport.conductor import Conductor

    assert Conductor._resubscribe_sleep_lock_seconds == 45.0
    src = _src(Conductor._subscriber.fun)                   # a mode ServiceTask around the coroutine
    for name in ("_resubscribe_sleep_lock_seconds", "self.app.rebalancing", "ev.clear()",
                 "consumer.subscribe(subscribed_topics)", "_update_indices()"):
        assert name in src, f"Conductor._subscriber changed: {name} missing"
    assert "_flag_changes" in _src(Conductor.discard) and "_flag_changes" in _src(Conductor.add)


def test_an_agent_declared_after_start_is_started_by_hand() -> None:
    """sinkapp.faustio.subscribe.start_agent: AgentManager.on_start starts the agents declared before
    the app started (``maybe_start``) after ``update_topic_index``; a later one is started the same way,
    and its stream adds a clone of its topic to ``app.topics`` when it starts iterating."""
    from faust.agents.manager import AgentManager
    from faust.topics import Topic

    src = _src(AgentManager.on_start)
    assert "update_topic_index" in src and "maybe_start" in src
    assert "self.app.topics.add" in _src(Topic.__aiter__)


def test_commit_of_a_deleted_topic_is_left_out() -> None:
    """BatchConsumerThread._commit drops partitions of topics missing from the consumer's metadata
    (``AIOKafkaConsumer.partitions_for_topic``), then calls Faust's ``_commit``: aiokafka retries
    UNKNOWN_TOPIC_OR_PARTITION (retriable) without end inside ``commit_offsets``."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import UnknownTopicOrPartitionError

    from sinkapp.faustio.consumer import BatchConsumerThread

    assert list(inspect.signature(faust_aiokafka.AIOKafkaConsumerThread._commit).parameters) == ["self", "offsets"]
    assert BatchConsumerThread._commit is not faust_aiokafka.AIOKafkaConsumerThread._commit
    assert "cluster.partitions_for_topic" in _src(AIOKafkaConsumer.partitions_for_topic)
    assert UnknownTopicOrPartitionError.retriable
    assert "def subscription" in _src(AIOKafkaConsumer)


def test_the_deleted_topic_error_aiokafka_logs_is_a_warning_with_topics_regex() -> None:
    """sinkapp.faustio.subscribe.DeletedTopicNotice matches aiokafka's record by its format string."""
    from aiokafka import cluster

    from sinkapp.faustio.subscribe import DELETED_TOPIC_MSG

    assert f'log.error("{DELETED_TOPIC_MSG}", topic)' in _src(cluster.ClusterMetadata.update_metadata)
    assert cluster.log.name == "aiokafka.cluster"


def test_the_affine_assignor_builds_on_faust_and_aiokafka_assignment() -> None:
    """sinkapp.faustio.assignor: Faust creates the worker's consumer with ``[app.assignor]`` only when
    the app has tables, else aiokafka's round robin; ``install`` puts ``app.assignor`` (built from
    ``conf.PartitionAssignor``) before it in ``AIOKafkaConsumer._partition_assignment_strategy``, which
    start() hands to the coordinator. AffineAssignor overrides PartitionAssignor._perform_assignment
    and calls the helpers below with Faust's signatures; ``metadata`` sends Faust's ClientMetadata,
    which the leader reads with ``_get_client_metadata``; ``on_assignment`` (Faust's, unchanged)
    checks the plan against the protocol assignment."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.consumer.group_coordinator import CoordinatorGroupRebalance, GroupCoordinator
    from faust.assignor import PartitionAssignor as FPA

    src = _src(faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer)
    assert "partition_assignment_strategy=[self._assignor]" in src and "RoundRobinPartitionAssignor" in src
    assert "self._partition_assignment_strategy = partition_assignment_strategy" in _src(AIOKafkaConsumer.__init__)
    assert "assignors=self._partition_assignment_strategy" in _src(AIOKafkaConsumer.start)
    assert "assignor = self.conf.PartitionAssignor(" in _src(faust.App)      # App.assignor
    assert "assignor.metadata(topics)" in _src(CoordinatorGroupRebalance.perform_group_join)
    assert "assignor.name == name" in _src(GroupCoordinator._lookup_assignor)
    assert "_perform_assignment" in _src(FPA._assign)
    sigs = {"_perform_assignment": ["self", "cluster", "member_metadata"],
            "_get_client_metadata": ["metadata"],                       # a classmethod
            "_update_member_urls": ["self", "clients_metadata"],
            "_protocol_assignments": ["self", "assignments", "cl_distribution", "tp_distribution", "topic_groups"],
            "_get_changelog_distribution": ["self", "assignments"],
            "_get_external_topic_distribution": ["self", "assignments"]}
    for name, params in sigs.items():
        assert list(inspect.signature(getattr(FPA, name)).parameters) == params, name
    assert "ClientMetadata.loads" in _src(FPA.on_assignment) and "self._assignment = " in _src(FPA.on_assignment)
    assert "self._assignment = " in _src(FPA.__init__) and "canonical_url" in _src(FPA._url.fget)  # type: ignore[attr-defined]
