"""Join fences: catch-up and the live stream meet without gap or duplicate."""

from app.realtime.fences import Fences


def message(seq: int) -> dict:
    return {"seq": seq}


def test_a_held_connection_gets_nothing_live_but_nothing_is_lost():
    fences = Fences()
    fences.hold("room:1", "a")
    assert fences.skip("room:1", message(5)) == ["a"]
    assert fences.skip("room:1", message(6)) == ["a"]
    assert fences.take_held("room:1", "a", after=4) == [message(5), message(6)]


def test_held_messages_up_to_the_catch_up_are_not_given_back_and_later_ones_are_in_order():
    fences = Fences()
    fences.hold("room:1", "a")
    for seq in (7, 5, 6):
        fences.skip("room:1", message(seq))
    assert fences.take_held("room:1", "a", after=5) == [message(6), message(7)]
    assert fences.take_held("room:1", "a", after=7) == []


def test_after_release_messages_up_to_the_snapshot_are_skipped_and_later_ones_delivered():
    fences = Fences()
    fences.hold("room:1", "a")
    fences.release("room:1", "a", upto=6)
    assert fences.skip("room:1", message(6)) == ["a"]
    assert fences.skip("room:1", message(7)) == []
    # The fence is gone once passed: nothing is skipped any more.
    assert fences.skip("room:1", message(3)) == []


def test_fences_are_per_connection_and_per_topic():
    fences = Fences()
    fences.hold("room:1", "a")
    fences.release("room:1", "a", upto=10)
    fences.hold("room:1", "b")
    assert sorted(fences.skip("room:1", message(4))) == ["a", "b"]
    assert fences.skip("room:2", message(4)) == []
    fences.drop("room:1", "b")
    assert fences.take_held("room:1", "b", after=0) == []
    assert fences.skip("room:1", message(11)) == []
