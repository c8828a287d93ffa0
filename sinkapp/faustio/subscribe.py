"""Routes that come and go while the worker runs (``topics.regex``): agents started late, the
consumer's subscription following them.

Who calls: :mod:`sinkapp.worker.discover`, every ``metadata.max.age.ms``, after it added a route to
the pipeline (``start_agent``, then ``follow``), found a routed topic deleted (``unfollow``), and at
the end of every pass (``ensure``).

How Faust does it: an agent registers its topic channel with the Conductor (``app.topics``) when its
stream starts iterating; the Conductor's ``_subscriber`` task then resubscribes the consumer to every
registered channel's topics, and the rebalance that follows assigns the new topic's partitions (the
revoke first loads what the table batches hold, as every rebalance does: ``BatchApp.before_revoke``).
Two things of that task are adjusted, both private to faust-streaming and pinned by
``tests/test_faust_contract.py``:

- it waits ``Conductor._resubscribe_sleep_lock_seconds`` (45 s) after a change before it resubscribes,
  to gather changes; here :data:`RESUBSCRIBE_AFTER_S`;
- a change flagged while the app is rebalancing is dropped (the event is cleared, nothing is
  subscribed): ``ensure`` compares the consumer's subscription with the Conductor's topics and flags
  the change again until they agree.
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger(__name__)

RESUBSCRIBE_AFTER_S = 1.0


def quicken_resubscribe(app: Any) -> None:
    """Resubscribe :data:`RESUBSCRIBE_AFTER_S` after a route is added or removed (not 45 s)."""
    app.topics._resubscribe_sleep_lock_seconds = RESUBSCRIBE_AFTER_S


async def start_agent(app: Any, agent: Any) -> None:
    """Start an agent declared after the app started (Faust starts the ones declared before)."""
    app.agents.update_topic_index()
    await agent.maybe_start()


class Subscriptions:
    """The channels of deleted topics, kept aside until their topic is created again."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.parked: dict[str, list[Any]] = {}

    def _channels(self, topic: str) -> list[Any]:
        return [ch for ch in self.app.topics if topic in getattr(ch, "topics", ())]

    def unfollow(self, topic: str) -> None:
        """Leave ``topic``: its agent stays, its channel leaves the Conductor (so the subscription)."""
        chans = self._channels(topic)
        for ch in chans:
            self.app.topics.discard(ch)
        self.parked.setdefault(topic, []).extend(chans)

    def follow(self, topic: str) -> None:
        """Read ``topic`` again (its topic was created again; a new agent's channel registers itself)."""
        for ch in self.parked.pop(topic, []):
            self.app.topics.add(ch)

    def wanted(self) -> set[str]:
        return {t for ch in self.app.topics for t in getattr(ch, "topics", ())}

    def ensure(self) -> bool:
        """True when the consumer is subscribed to exactly the Conductor's topics; else flag the change
        again (a change made during a rebalance is dropped by Faust) and say False."""
        have = self.app.batch_consumer.subscribed_topics()
        want = self.wanted()
        if have is None or have == want:
            return True
        if not self.app.rebalancing:
            chans = list(self.app.topics)
            if chans:                            # discard flags a change; add puts the channel back
                self.app.topics.discard(chans[0])
                self.app.topics.add(chans[0])
                log.info("subscription %s differs from the routes' topics %s: resubscribing",
                         sorted(have), sorted(want))
        return False


DELETED_TOPIC_MSG = "Topic %s not found in cluster metadata"
_DELETED_TOPIC = re.compile(re.escape(DELETED_TOPIC_MSG).replace("%s", r"\S+"))


class DeletedTopicNotice(logging.Filter):
    """aiokafka logs ERROR ``Topic %s not found in cluster metadata`` at each metadata refresh for a
    subscribed topic that was deleted, until the consumer leaves it. With ``topics.regex`` a deleted
    topic is expected (its route is removed at the next pass): a WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        # sinkapp.observe.redact formats every record at creation (msg = the message, args = ())
        if record.levelno >= logging.ERROR and _DELETED_TOPIC.fullmatch(record.getMessage()):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def expect_deleted_topics() -> None:
    """Install :class:`DeletedTopicNotice` on aiokafka's cluster metadata logger (once)."""
    logger = logging.getLogger("aiokafka.cluster")
    if not any(isinstance(f, DeletedTopicNotice) for f in logger.filters):
        logger.addFilter(DeletedTopicNotice())
