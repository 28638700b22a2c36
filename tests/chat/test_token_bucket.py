"""The per-connection event limit."""

from app.realtime.session import TokenBucket


def test_a_burst_is_allowed_then_refused_then_refilled_at_the_rate():
    now = [100.0]
    bucket = TokenBucket(rate=2.0, burst=3, monotonic=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one token at 2 per second
    assert bucket.take() is True
    assert bucket.take() is False
