"""One retry policy for everything that talks to a server (Gemini, the dataset downloads).

Bounded retries with capped exponential backoff and jitter: retry ``n`` (0-based) waits between half
and all of ``min(cap, base * 2**n)`` ("equal jitter": clients that failed together spread out, yet
none hammers the server at once), or longer when the server asked for it, never beyond the cap.
Each caller says which failures are worth retrying (``classify``) and words the final message.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Failure:
    """What went wrong with one attempt, in words fit for one line (secrets already removed)."""

    text: str
    retryable: bool
    status: int | None = None
    #: seconds the server asked us to wait (Retry-After, or the like)
    wait_hint: float | None = None


class GaveUp(Exception):
    """The action failed for good: ``failure`` is the last failure, after ``attempts`` attempts."""

    def __init__(self, failure: Failure, attempts: int):
        super().__init__(failure.text)
        self.failure = failure
        self.attempts = attempts


@dataclass
class RetryPolicy:
    max_retries: int = 5
    base_seconds: float = 2.0
    cap_seconds: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random

    def delay(self, retry: int, wait_hint: float | None = None) -> float:
        backoff = min(self.cap_seconds, self.base_seconds * 2**retry)
        wait = backoff / 2 + self.random() * backoff / 2
        if wait_hint:
            wait = max(wait, min(wait_hint, self.cap_seconds))
        return wait

    def call(self, action: Callable[[], T], what: str, classify: Callable[[BaseException], Failure | None]) -> T:
        """``action()``, retried while ``classify`` calls its failure retryable and retries are left;
        raises :class:`GaveUp` after that. An exception ``classify`` does not know (None) is a bug
        or a local problem (a full disk) and propagates as it is."""
        retry = 0
        while True:
            try:
                return action()
            except Exception as err:
                failure = classify(err)
                if failure is None:
                    raise
                if not failure.retryable or retry >= self.max_retries:
                    raise GaveUp(failure, retry + 1) from None
                wait = self.delay(retry, failure.wait_hint)
                retry += 1
                log.warning("%s failed with %s; retry %d of %d in %.1f s", what, failure.text, retry,
                            self.max_retries, wait)
                self.sleep(wait)
