"""The table-affine placement (sinkapp.faustio.affinity.place): balance, affinity, stickiness, determinism."""

from __future__ import annotations

import random
from collections import Counter

from sinkapp.faustio.affinity import TP, place


def tables(sizes: dict[str, int]) -> dict[str, list[TP]]:
    """One topic per table, named after it."""
    return {t: [(t, p) for p in range(n)] for t, n in sizes.items()}


def spans(out: dict[str, list[TP]], table_of: dict[str, str] | None = None) -> dict[str, int]:
    """How many members hold partitions of each table."""
    holders: dict[str, set[str]] = {}
    for m, tps in out.items():
        for t, _ in tps:
            holders.setdefault((table_of or {}).get(t, t), set()).add(m)
    return {t: len(ms) for t, ms in holders.items()}


def check_balanced(out: dict[str, list[TP]], groups: dict[str, list[TP]]) -> None:
    every = sorted(tp for tps in groups.values() for tp in tps)
    assert sorted(tp for tps in out.values() for tp in tps) == every       # each partition once
    counts = [len(tps) for tps in out.values()]
    assert max(counts) - min(counts) <= 1, counts


def moves(before: dict[str, list[TP]], after: dict[str, list[TP]]) -> int:
    old = {tp: m for m, tps in before.items() for tp in tps}
    return sum(1 for m, tps in after.items() for tp in tps if tp in old and old[tp] != m)


def test_four_tables_of_three_partitions_on_two_members_each_sit_on_one() -> None:
    groups = tables({"a": 3, "b": 3, "c": 3, "d": 3})
    out = place(["w1", "w2"], groups)
    check_balanced(out, groups)
    assert spans(out) == {"a": 1, "b": 1, "c": 1, "d": 1}


def test_one_table_of_twelve_partitions_is_split_for_balance() -> None:
    groups = tables({"orders": 12})
    out = place(["w1", "w2"], groups)
    check_balanced(out, groups)
    assert [len(v) for v in out.values()] == [6, 6]


def test_topics_of_one_table_stay_together() -> None:
    groups = {"test.t1": [("a", 0), ("a", 1), ("b", 0), ("b", 1)], "test.t2": [("c", 0), ("c", 1), ("d", 0), ("d", 1)]}
    out = place(["w1", "w2"], groups)
    check_balanced(out, groups)
    assert spans(out, {"a": "t1", "b": "t1", "c": "t2", "d": "t2"}) == {"t1": 1, "t2": 1}


def test_the_same_inputs_in_any_order_give_the_same_placement() -> None:
    rng = random.Random(5)
    groups = tables({f"t{i}": rng.randint(1, 9) for i in range(20)})
    prev = place([f"w{i}" for i in range(4)], groups)
    want = place([f"w{i}" for i in range(5)], groups, prev)
    for _ in range(5):
        members = [f"w{i}" for i in range(5)]
        rng.shuffle(members)
        shuffled = dict(rng.sample(sorted(groups.items()), len(groups)))
        shuffled = {g: rng.sample(tps, len(tps)) for g, tps in shuffled.items()}
        assert place(members, shuffled, {m: list(reversed(v)) for m, v in prev.items()}) == want


def test_an_unchanged_group_keeps_every_partition_where_it_is() -> None:
    rng = random.Random(1)
    for _ in range(50):
        groups = tables({f"t{i}": rng.randint(1, 12) for i in range(rng.randint(1, 30))})
        members = [f"w{i}" for i in range(rng.randint(1, 7))]
        first = place(members, groups)
        assert place(members, groups, first) == first


def test_a_member_joining_moves_few_partitions_and_keeps_tables_whole() -> None:
    groups = tables({"a": 3, "b": 3, "c": 3, "d": 3})
    two = place(["w1", "w2"], groups)
    three = place(["w1", "w2", "w3"], groups, two)
    check_balanced(three, groups)
    assert moves(two, three) <= 5                 # 3 tables on 3 members, the fourth cut in three
    assert sorted(spans(three).values()) == [1, 1, 1, 3]
    back = place(["w1", "w2"], groups, three)     # w3 leaves: its table and the cut one find one home each
    check_balanced(back, groups)
    assert spans(back) == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert moves(three, back) <= 1 + len(three["w3"])


def test_a_twelve_partition_table_moves_only_the_new_members_share() -> None:
    groups = tables({"orders": 12})
    two = place(["w1", "w2"], groups)
    three = place(["w1", "w2", "w3"], groups, two)
    check_balanced(three, groups)
    assert moves(two, three) == 4


def test_a_spread_assignment_becomes_affine_at_the_next_rebalance() -> None:
    """Kafka's round robin (spread) before: each table on both members; after, each on one."""
    groups = tables({"a": 3, "b": 3, "c": 3, "d": 3})
    every = sorted(tp for tps in groups.values() for tp in tps)
    spread = {"w1": every[0::2], "w2": every[1::2]}
    out = place(["w1", "w2"], groups, spread)
    check_balanced(out, groups)
    assert spans(out) == {"a": 1, "b": 1, "c": 1, "d": 1}


def test_balance_holds_for_any_sizes_members_and_history() -> None:
    rng = random.Random(7)
    for _ in range(300):
        groups = tables({f"t{i}": rng.randint(1, 16) for i in range(rng.randint(1, 40))})
        members = [f"w{i}" for i in range(rng.randint(1, 12))]
        every = [tp for tps in groups.values() for tp in tps]
        prev = {m: rng.sample(every, min(len(every), rng.randint(0, 10))) for m in members + ["gone"]}
        out = place(members, groups, prev)
        check_balanced(out, groups)
        # affinity: tables are cut no more than filling the members one after the other would cut
        # them: fewer extra pieces than members, whatever the history
        for placed in (out, place(members, groups)):
            assert sum(spans(placed).values()) - len(groups) < len(members), spans(placed)


def test_partitions_go_only_to_members_subscribed_to_their_topic() -> None:
    groups = tables({"a": 3, "b": 3, "new": 2})
    subs = {"w1": {"a", "b", "new"}, "w2": {"a", "b"}}
    out = place(["w1", "w2"], groups, subscriptions=subs)
    assert {tp for tp in out["w2"] if tp[0] == "new"} == set()
    assert sorted(tp for tps in out.values() for tp in tps) == sorted(tp for v in groups.values() for tp in v)
    nobody = place(["w1"], tables({"x": 2}), subscriptions={"w1": {"y"}})
    assert nobody == {"w1": []}


def test_a_partition_claimed_by_two_members_is_placed_once() -> None:
    groups = tables({"a": 4})
    out = place(["w1", "w2"], groups, {"w1": groups["a"], "w2": groups["a"]})
    check_balanced(out, groups)


def test_fifty_members_two_hundred_tables() -> None:
    """The README's figures: 200 tables of 6 partitions over 50 workers each sit on one worker;
    200 tables of 1..24 partitions are cut only where they must be."""
    members = [f"w{i:02d}" for i in range(50)]
    even = tables({f"t{i:03d}": 6 for i in range(200)})
    out = place(members, even)
    check_balanced(out, even)
    assert set(spans(out).values()) == {1}
    rng = random.Random(3)
    mixed = tables({f"t{i:03d}": rng.randint(1, 24) for i in range(200)})
    out = place(members, mixed)
    check_balanced(out, mixed)
    cut = Counter(spans(out).values())
    assert cut[1] >= 150, cut
    again = place(members[:49], mixed, out)      # one worker leaves: only its share moves, and a little
    check_balanced(again, mixed)
    assert moves(out, again) <= 3 * len(out[members[49]]), moves(out, again)
