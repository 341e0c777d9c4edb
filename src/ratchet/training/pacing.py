"""Keep a planned schedule inside its deadline when the machine turns out slower than measured.

The budget plan (training.plan) fits the schedule to a speed measured on a few batches. That
speed leaves out what the loop does besides training (evaluations, checkpoint writes) and cannot
see another process taking the cores later. Without a check, such a fit runs into the deadline
with its learning rate still high and is cut mid-schedule. The pace here is the whole loop's wall
time per optimizer step; when the steps left would end past the deadline, the schedule is
shortened so that its decay ends in time (the hard stop at the deadline stays as a last resort).
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("ratchet")

SAFETY = 0.85
"""Share of the time left that the shortened schedule counts on."""
MIN_STEPS = 5
"""Steps observed before the pace is trusted (the first ones carry one-off costs)."""


class DeadlinePace:
    def __init__(self, deadline: float | None, start_step: int) -> None:
        self.deadline, self.start_step = deadline, start_step
        self.started = time.time()
        self.shortened: dict[str, int] | None = None
        """Where and to how many steps the schedule was shortened (None: it was not)."""

    def shortened_total(self, step: int, total: int) -> int | None:
        """A smaller total step count that ends before the deadline, or None when ``total`` still does."""
        done = step - self.start_step
        if self.deadline is None or done < MIN_STEPS or step >= total:
            return None
        now = time.time()
        pace = (now - self.started) / done
        if now + pace * (total - step) <= self.deadline:
            return None
        affordable = int(max(self.deadline - now, 0.0) * SAFETY / pace)
        return max(step + 1, min(total - 1, step + affordable))

    def keep_in_time(self, schedule: Any, step: int, total: int) -> int:
        """The total step count to train to: ``total``, or fewer with ``schedule`` shortened to end in time."""
        sooner = self.shortened_total(step, total)
        if sooner is None:
            return total
        schedule.shorten(step, sooner)
        planned = total if self.shortened is None else self.shortened["planned_steps"]
        self.shortened = {"at_step": step, "planned_steps": planned, "steps": sooner}
        log.info("slower than planned: the schedule ends at step %d of %d, before the deadline", sooner, planned)
        return sooner
