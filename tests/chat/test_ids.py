"""Time-ordered 64-bit ids."""

from app.chat.ids import EPOCH_MS, MAX_SEQUENCE, Snowflake, id_time


def test_ids_are_unique_and_increasing_within_one_millisecond_and_beyond():
    now = [EPOCH_MS + 1000]
    ids = Snowflake(node=7, clock_ms=lambda: now[0])
    made = [ids.next() for _ in range(MAX_SEQUENCE + 1)]
    now[0] += 5
    made += [ids.next() for _ in range(10)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(0 < i < 2**63 for i in made)


def test_a_clock_that_steps_back_never_repeats_an_id():
    now = [EPOCH_MS + 10_000]
    ids = Snowflake(node=1, clock_ms=lambda: now[0])
    first = ids.next()
    now[0] -= 5000
    second = ids.next()
    assert second > first


def test_nodes_never_collide_at_the_same_instant():
    clock = lambda: EPOCH_MS + 42  # noqa: E731
    a, b = Snowflake(node=1, clock_ms=clock), Snowflake(node=2, clock_ms=clock)
    assert {a.next() for _ in range(100)}.isdisjoint({b.next() for _ in range(100)})


def test_an_id_tells_when_it_was_made():
    ids = Snowflake(node=3, clock_ms=lambda: EPOCH_MS + 86_400_000)
    assert id_time(ids.next()).isoformat().startswith("2024-01-02T00:00:00")
