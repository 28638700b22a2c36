"""Join fences: catch-up and the live stream meet without gap or duplicate."""

from app.gateways.socketio.delivery import Fences


def test_a_held_connection_gets_nothing_live_until_released():
    fences = Fences()
    fences.hold("room:1", "a")
    assert fences.skip("room:1", 5) == ["a"]
    assert fences.skip("room:1", 6) == ["a"]


def test_after_release_messages_up_to_the_snapshot_are_skipped_and_later_ones_delivered():
    fences = Fences()
    fences.hold("room:1", "a")
    fences.release("room:1", "a", upto=6)
    assert fences.skip("room:1", 6) == ["a"]
    assert fences.skip("room:1", 7) == []
    # The fence is gone once passed: nothing is skipped any more.
    assert fences.skip("room:1", 3) == []


def test_fences_are_per_connection_and_per_topic():
    fences = Fences()
    fences.hold("room:1", "a")
    fences.release("room:1", "a", upto=10)
    fences.hold("room:1", "b")
    assert sorted(fences.skip("room:1", 4)) == ["a", "b"]
    assert fences.skip("room:2", 4) == []
    fences.drop("room:1", "b")
    assert fences.skip("room:1", 11) == []
