"""Retry decisions as a pure function of (error, attempt): tested without any queue."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from shared.contracts.errors import BusyError, PermanentError, PoisonMessageError


class Action(StrEnum):
    RETRY = "retry"  # report a batch item failure; the message comes back after `delay_seconds`
    RESEND = "resend"  # busy: send a delayed copy and delete this one, so waiting never burns receive counts
    DEAD_LETTER_NOW = "dead_letter_now"  # can never succeed: to the dead-letter queue with the reason
    GIVE_UP = "give_up"  # the last attempt failed: report the failure; the queue's redrive moves it


@dataclass(frozen=True)
class RetryDecision:
    action: Action
    delay_seconds: int
    reason: str


def backoff_seconds(attempt: int, *, base_s: float, max_s: float, rng: random.Random) -> int:
    """Exponential backoff with equal jitter: half the step is fixed, half random; never below 1 s."""
    step = min(max_s, base_s * 2.0 ** max(attempt - 1, 0))
    return max(1, min(int(max_s), round(step / 2 + rng.uniform(0, step / 2))))


def decide(
    error: BaseException,
    attempt: int,
    *,
    max_receive_count: int,
    base_s: float,
    max_s: float,
    busy_delay_s: float,
    rng: random.Random,
) -> RetryDecision:
    """What to do with a message whose processing raised `error` on its `attempt`-th receive."""
    reason = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, PoisonMessageError | PermanentError):
        return RetryDecision(Action.DEAD_LETTER_NOW, 0, reason)
    if attempt >= max_receive_count:  # busy too: a last attempt that cannot run is a final failure like any other
        return RetryDecision(Action.GIVE_UP, 0, reason)
    if isinstance(error, BusyError):
        delay = max(1, round(busy_delay_s + rng.uniform(0, busy_delay_s)))
        return RetryDecision(Action.RESEND, delay, reason)
    # TransientError, and anything unexpected: retrying is the safe default for a bug we did not foresee.
    return RetryDecision(Action.RETRY, backoff_seconds(attempt, base_s=base_s, max_s=max_s, rng=rng), reason)
