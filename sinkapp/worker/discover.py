"""``topics.regex`` followed while the worker runs: topics created later are routed, deleted ones stop.

Who calls: the worker's ``topic_watch`` timer (:mod:`sinkapp.worker.app`), every ``metadata.max.age.ms``
(Kafka's consumer setting, the same period the Kafka consumer refreshes its metadata), only with
``topics.regex``. As Kafka Connect does, with no restart.

Each pass lists the broker's topics and compares them with the routed ones
(:func:`sinkapp.config.routes.topic_changes`):

- a new matching topic gets the checks a worker runs at start for its route (ACLs, registry, the table
  exists or ``auto.create`` makes it), then its route (built by the start-up functions, so
  ``topic2table``, RegexRouter and the table settings apply), its Faust agent, and the consumer
  subscribes to it: the rebalance that follows assigns its partitions (every worker of the group runs
  the same pass, in the same sorted order, and Kafka's group protocol spreads the partitions). A
  definitive check failure is logged once and the topic is checked again at the next pass;
- a routed topic that is gone: its route shows REMOVED (not a failure), the consumer leaves it; what was
  buffered of it loads at the revoke of the rebalance Kafka's consumer starts when the topic vanishes;
- a topic created again under a removed route's name is followed again.

Nothing persisted depends on the order routes were added: the ledger, labels and committed offsets
name topics, never route ids (which are per-process list indexes).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sinkapp.config import Settings
from sinkapp.config.routes import Route, build_routes, topic_changes
from sinkapp.faustio.subscribe import Subscriptions
from sinkapp.kafka.admin import admin_client, topic_partitions
from sinkapp.worker.checks import run_checks
from sinkapp.worker.startup import judge_checks

log = logging.getLogger(__name__)

AddRoute = Callable[[Route], Awaitable[None]]


class TopicWatch:
    def __init__(self, app: Any, settings: Settings, add_route: AddRoute,
                 adjust: Callable[[list[Route]], list[Route]]) -> None:
        self.app, self.settings, self.add_route, self.adjust = app, settings, add_route, adjust
        self.subs = Subscriptions(app)
        self.live: set[str] = {r.route.topic for r in app.pipeline.routes}   # routed, and on the broker
        self.refused: dict[str, str] = {}        # topic → the check failure logged last

    async def tick(self) -> None:
        """One pass: list the topics, add and remove routes, make the subscription follow."""
        k = self.settings.kafka
        assert k is not None
        try:
            async with admin_client(k) as admin:
                partitions = await topic_partitions(admin)
        except Exception as exc:
            log.warning("topics.regex: cannot list Kafka's topics: %r; trying again in %.0fs", exc,
                        k.metadata_max_age_ms / 1000)
            return
        present = {t for t, n in partitions.items() if n}
        changes = topic_changes(self.settings, self.live, present)
        for topic in changes.removed:
            self.remove(topic)
        for topic in changes.added:
            await self.add(topic, partitions)
        self.subs.ensure()

    def remove(self, topic: str) -> None:
        self.live.discard(topic)
        ri = self.app.pipeline.by_topic[topic]
        self.app.pipeline.topic_gone(topic)
        self.subs.unfollow(topic)
        log.info("topic %s was deleted: route %s removed (what was read of it loads at the next rebalance)",
                 topic, ri.name)

    async def add(self, topic: str, partitions: dict[str, int]) -> None:
        route = self.adjust(build_routes(self.settings, [topic]))[0]
        bad = judge_checks(await run_checks(self.settings, [route], partitions))
        if bad:
            why = "; ".join(c.line() for c in bad)
            if self.refused.get(topic) != why:
                log.error("new topic %s matches topics.regex=%r but is not loaded: %s (checked again every "
                          "metadata.max.age.ms)", topic, self.settings.topics_regex, why)
            self.refused[topic] = why
            return
        self.refused.pop(topic, None)
        old = self.app.pipeline.by_topic.get(topic)
        if old is not None:                      # created again: its route and agent are still here
            self.app.pipeline.topic_gone(topic, gone=False)
            self.subs.follow(topic)
            log.info("topic %s matches topics.regex again: route %s back", topic, old.name)
        else:
            await self.add_route(route)
            log.info("new topic %s matches topics.regex: route %s added", topic, route.name)
        self.live.add(topic)
