"""The smallest set of environment variables that stops every thread it can: one line to add to a deployment.

Each live thread comes with the knobs that were verified to stop it (its mitigation and the alternatives). One
variable may stop several threads (OMP_NUM_THREADS=1 stops numpy's OpenBLAS pool and numexpr's workers), so the
set is chosen as a cover: the knob that stops the most threads not yet stopped, then the next (greedy, which is
exact for the few threads of real audits and never far off). Knobs that would set one variable to two values are
never combined.
"""

from __future__ import annotations

from collections.abc import Sequence

Knob = dict[str, str]


def smallest_set(options: Sequence[Sequence[Knob]]) -> tuple[Knob, set[int]]:
    """The variables to set, and the indexes of the threads they stop, for threads that each can be stopped by any
    one of their `options`."""
    chosen: Knob = {}
    stopped: set[int] = set()
    candidates = list(dict.fromkeys(tuple(sorted(k.items())) for opts in options for k in opts))
    while True:
        best: tuple[tuple[str, str], ...] | None = None
        best_stops: set[int] = set()
        for candidate in candidates:
            if any(chosen.get(name, value) != value for name, value in candidate):
                continue  # would set a chosen variable to another value
            stops = {i for i, opts in enumerate(options) if i not in stopped and dict(candidate) in opts}
            if len(stops) > len(best_stops) or (
                best is not None and len(stops) == len(best_stops) and stops and len(candidate) < len(best)
            ):
                best, best_stops = candidate, stops
        if best is None or not best_stops:
            return chosen, stopped
        chosen.update(best)
        stopped |= best_stops
