"""Table-affine placement of a consumer group's partitions: a pure function, no Kafka, no Faust.

Who calls: :class:`sinkapp.faustio.assignor.AffineAssignor` on the group leader at every rebalance
(and the unit tests, tests/test_affinity.py). A worker sends one Stream Load per table it holds
partitions of per ``bufferflush.intervalms``, so a table whose partitions sit on W workers gets W
loads per interval. :func:`place` keeps each table's partitions on as few members as balance allows.

The rules, in order of precedence:

1. Balance: every partition is placed once, and partition counts per member differ by at most one
   (``total // members`` each, one more for ``total % members`` of them), as Kafka's round robin.
   Only when members subscribe to different topics (``topics.regex``: a topic one worker has
   picked up and another not yet) may a partition go past that, to a member subscribed to it.
2. Affinity: a table (a *group* of partitions: every partition of every topic loading into it) goes
   whole to one member when one has room; the largest tables are placed first; a table is split
   only when no member has room for it, over the members with the most room (fewest pieces).
3. Stickiness: a table one member held whole stays there while it has room (these are placed first);
   a table placed whole goes to the member that held most of it among those with room; a split
   table's members keep what they held of it as far as their room goes. So a group whose members and
   partitions did not change keeps its placement exactly, and a member joining or leaving moves
   little more than its share.
4. Determinism: the result depends only on the inputs' contents (sorted everywhere), never on order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence

TP = tuple[str, int]                          # (topic, partition)


class _Plan:
    """Members' placed partitions and what room the balance rule leaves each."""

    def __init__(self, members: list[str], total: int, subscriptions: Mapping[str, Collection[str]] | None) -> None:
        self.members = members
        self.base, self.extra = divmod(total, len(members))     # extra: members that may hold base + 1
        self.count = dict.fromkeys(members, 0)
        self.held: dict[str, list[TP]] = {m: [] for m in members}
        self.subs = subscriptions

    def room(self, m: str) -> int:
        n = self.count[m]
        if n > self.base:
            return 0
        return self.base - n + (1 if self.extra > 0 else 0)

    def reserve(self, m: str, n: int) -> None:
        before = self.count[m]
        self.count[m] += n
        if before <= self.base < self.count[m]:
            self.extra -= 1

    def give(self, m: str, tps: Iterable[TP], counted: bool = False) -> None:
        tps = list(tps)
        if not counted:
            self.reserve(m, len(tps))
        self.held[m].extend(tps)

    def eligible(self, tps: Sequence[TP]) -> list[str]:
        """Members subscribed to every topic of ``tps``."""
        if self.subs is None:
            return self.members
        topics = {t for t, _ in tps}
        return [m for m in self.members if topics <= set(self.subs.get(m, ()))]


def place(members: Iterable[str], groups: Mapping[str, Iterable[TP]],
          previous: Mapping[str, Iterable[TP]] | None = None,
          subscriptions: Mapping[str, Collection[str]] | None = None) -> dict[str, list[TP]]:
    """Each member's partitions, sorted. ``groups``: table key → its partitions (every partition in
    exactly one group); ``previous``: member → what it held before (stale or foreign entries are
    ignored; a partition two members claim stays with the first by name); ``subscriptions``:
    member → its topics (None: every member takes every topic)."""
    names = sorted(set(members))
    if not names:
        return {}
    tables = _eligible_groups(names, groups, subscriptions)
    plan = _Plan(names, sum(len(tps) for tps in tables.values()), subscriptions)
    owner = _owners(names, previous or {}, {tp for tps in tables.values() for tp in tps})
    order = sorted(tables, key=lambda g: (-len(tables[g]), g))
    rest = []
    for g in order:                            # pass 1: a table one member held whole stays there
        tps = tables[g]
        main = _sole_holder(tps, owner)
        if main is not None and main in plan.eligible(tps) and plan.room(main) >= len(tps):
            plan.give(main, tps)
        else:
            rest.append(g)
    for g in rest:                             # pass 2: whole where one fits, else split
        tps = tables[g]
        fits = [m for m in plan.eligible(tps) if plan.room(m) >= len(tps)]
        if fits:
            held = Counter(owner.get(tp) for tp in tps)
            plan.give(min(fits, key=lambda m: (-held[m], plan.room(m) - len(tps), m)), tps)
        else:
            _split(plan, tps, owner)
    return {m: sorted(tps) for m, tps in plan.held.items()}


def _eligible_groups(names: list[str], groups: Mapping[str, Iterable[TP]],
                     subscriptions: Mapping[str, Collection[str]] | None) -> dict[str, list[TP]]:
    """Groups with their partitions sorted; a group no member subscribes to wholly is cut per topic, and
    a topic no member subscribes to is left out."""
    subscribed = None if subscriptions is None else {t for m in names for t in subscriptions.get(m, ())}
    out: dict[str, list[TP]] = {}
    for g, tps in groups.items():
        parts = sorted({(t, p) for t, p in tps if subscribed is None or t in subscribed})  # nobody can read the rest
        if not parts:
            continue
        topics = sorted({t for t, _ in parts})
        whole = subscriptions is None or any(set(topics) <= set(subscriptions.get(m, ())) for m in names)
        if whole or len(topics) == 1:
            out[g] = parts
        else:
            for t in topics:
                out[f"{g}\x00{t}"] = [tp for tp in parts if tp[0] == t]
    return out


def _owners(names: list[str], previous: Mapping[str, Iterable[TP]], known: set[TP]) -> dict[TP, str]:
    owner: dict[TP, str] = {}
    for m in names:                            # sorted: the first claimant keeps a twice-claimed partition
        for tp in previous.get(m, ()):
            tp = (tp[0], tp[1])
            if tp in known and tp not in owner:
                owner[tp] = m
    return owner


def _sole_holder(tps: Sequence[TP], owner: Mapping[TP, str]) -> str | None:
    holders = {owner.get(tp) for tp in tps}
    return holders.pop() if len(holders) == 1 else None


def _split(plan: _Plan, tps: list[TP], owner: Mapping[TP, str]) -> None:
    """Cut a table no member has room for: shares to the members with the most room (the fewest
    pieces; the previous holders first among equals), each share starting from what its member held."""
    elig = plan.eligible(tps)
    held = Counter(owner.get(tp) for tp in tps)
    shares: dict[str, int] = {}
    need = len(tps)
    while need:
        cands = [m for m in elig if m not in shares and plan.room(m) > 0]
        if not cands:                          # subscriptions differ: past the quota, on the least loaded
            m = min(elig, key=lambda m: (plan.count[m], m))
            take = need
        else:
            m = min(cands, key=lambda m: (-min(plan.room(m), need), -held[m], m))
            take = min(plan.room(m), need)
        plan.reserve(m, take)
        shares[m], need = shares.get(m, 0) + take, need - take
    unplaced = list(tps)
    for m in sorted(shares):
        own = [tp for tp in unplaced if owner.get(tp) == m][:shares[m]]
        plan.give(m, own, counted=True)
        shares[m] -= len(own)
        unplaced = [tp for tp in unplaced if tp not in set(own)]
    for m in sorted(shares):
        plan.give(m, unplaced[:shares[m]], counted=True)
        unplaced = unplaced[shares[m]:]
