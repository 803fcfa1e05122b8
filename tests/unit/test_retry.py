"""shared.domain.retry.decide as a pure function of (error, attempt): no queue, no clock, a seeded random."""

from __future__ import annotations

import random

import pytest

from shared.contracts.errors import (
    BusyError,
    InvalidClientIdError,
    PermanentError,
    PoisonMessageError,
    TransientError,
)
from shared.domain.retry import Action, RetryDecision, backoff_seconds, decide

MAX_RECEIVE_COUNT = 5
BASE_S = 2.0
MAX_S = 30.0
BUSY_S = 3.0
SEEDS = range(200)  # each randomized case is checked against this many seeds


def decide_with(
    error: BaseException,
    attempt: int,
    seed: int = 0,
    *,
    max_s: float = MAX_S,
    max_receive_count: int = MAX_RECEIVE_COUNT,
) -> RetryDecision:
    return decide(
        error,
        attempt,
        max_receive_count=max_receive_count,
        base_s=BASE_S,
        max_s=max_s,
        busy_delay_s=BUSY_S,
        rng=random.Random(seed),
    )


@pytest.mark.parametrize(
    "error",
    [
        PoisonMessageError("not JSON: Expecting value"),
        PermanentError("postgres 42P01: relation does not exist"),
        InvalidClientIdError("invalid clientId 'a:b'"),
    ],
)
@pytest.mark.parametrize("attempt", [1, MAX_RECEIVE_COUNT - 1, MAX_RECEIVE_COUNT])
def test_given_an_error_that_can_never_succeed_then_dead_letter_now_on_any_attempt(
    error: Exception, attempt: int
) -> None:
    decision = decide_with(error, attempt)
    assert decision.action is Action.DEAD_LETTER_NOW
    assert decision.delay_seconds == 0 and decision.reason == str(error)


@pytest.mark.parametrize("attempt", [1, 2, MAX_RECEIVE_COUNT - 1])
def test_given_busy_then_resend_with_a_delay_between_one_and_two_busy_delays(attempt: int) -> None:
    # Busy is not a failure before the last receive: the copy starts with a fresh receive count
    delays = set()
    for seed in SEEDS:
        decision = decide_with(BusyError("inbox_counts of acme is already being recomputed"), attempt, seed)
        assert decision.action is Action.RESEND
        delays.add(decision.delay_seconds)
    assert min(delays) >= BUSY_S and max(delays) <= 2 * BUSY_S and len(delays) > 1  # jittered


def test_given_busy_on_the_last_receive_then_a_final_failure_like_any_other() -> None:
    # A consumer that waits in place (the sweeper) would otherwise reach the DLQ by redrive, silently
    decision = decide_with(BusyError("inbox sweep already running"), MAX_RECEIVE_COUNT, SEEDS[0])
    assert decision.action is Action.GIVE_UP and decision.delay_seconds == 0


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [
        (1, 1, 2),  # step 2: equal jitter puts the delay in [step/2, step]
        (2, 2, 4),
        (3, 4, 8),
        (4, 8, 16),
    ],
)
def test_given_a_transient_error_before_the_last_attempt_then_retry_in_the_equal_jitter_range(
    attempt: int, low: int, high: int
) -> None:
    delays = set()
    for seed in SEEDS:
        decision = decide_with(TransientError("postgres unreachable: connection refused"), attempt, seed)
        assert decision.action is Action.RETRY
        assert decision.reason == "postgres unreachable: connection refused"
        delays.add(decision.delay_seconds)
    assert min(delays) >= low and max(delays) <= high and len(delays) > 1  # jittered


@pytest.mark.parametrize("max_s", [MAX_S, 45.5, 1.0])
def test_given_many_attempts_then_the_delay_never_exceeds_backoff_max(max_s: float) -> None:
    for attempt in range(1, 100):
        for seed in range(20):
            decision = decide_with(
                TransientError("redis unavailable"), attempt, seed, max_s=max_s, max_receive_count=100
            )
            assert decision.action is Action.RETRY
            assert 1 <= decision.delay_seconds <= max_s
            if BASE_S * 2 ** (attempt - 1) >= max_s:  # capped: equal jitter below the cap
                assert max(1, int(max_s / 2)) <= decision.delay_seconds


def test_given_the_same_seed_then_the_same_delays() -> None:
    first = [backoff_seconds(n, base_s=BASE_S, max_s=MAX_S, rng=random.Random(7)) for n in range(1, 6)]
    second = [backoff_seconds(n, base_s=BASE_S, max_s=MAX_S, rng=random.Random(7)) for n in range(1, 6)]
    assert first == second


def test_given_a_tiny_base_then_the_delay_is_never_below_one_second() -> None:
    rng = random.Random(1)
    assert all(backoff_seconds(1, base_s=0.1, max_s=MAX_S, rng=rng) == 1 for _ in range(100))


@pytest.mark.parametrize("error", [TransientError("postgres unreachable"), KeyError("clientId")])
def test_given_the_last_attempt_fails_then_give_up(error: Exception) -> None:
    decision = decide_with(error, MAX_RECEIVE_COUNT)
    assert decision.action is Action.GIVE_UP and decision.delay_seconds == 0


def test_given_an_attempt_beyond_the_maximum_then_give_up() -> None:
    # ApproximateReceiveCount can exceed maxReceiveCount (a redrive policy changed meanwhile)
    assert decide_with(TransientError("x"), MAX_RECEIVE_COUNT + 3).action is Action.GIVE_UP


@pytest.mark.parametrize("attempt", [1, MAX_RECEIVE_COUNT - 1])
def test_given_an_unexpected_exception_then_retry_as_the_safe_default(attempt: int) -> None:
    decision = decide_with(KeyError("clientId"), attempt)
    assert decision.action is Action.RETRY
    assert decision.reason == "'clientId'"


def test_given_a_multi_line_or_empty_message_then_the_reason_is_one_line() -> None:
    assert decide_with(TransientError("connection\n  refused\tnow"), 1).reason == "connection refused now"
    assert decide_with(ValueError(), 1).reason == "ValueError"
