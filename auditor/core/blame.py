"""Checking what one distribution's probe blamed on another against the other's own probe.

A probe's report may be forged by the package it probes, blame included: a package that starts a thread and writes,
in its report, that another distribution's code started it would look safe. So a live thread blamed on another
distribution counts only if that distribution's own probe, of the same version, shows a live thread of that name
and kind too (numpy's BLAS thread, blamed on numpy in pandas's probe, is in numpy's own). A claim the other's probe
does not bear out is the claimant's own thread, unexplained: what it really started cannot be told from its word.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from auditor.core.findings import ProbeResult, ThreadOnImport, thread_kind


def refuted(results: Mapping[str, ProbeResult]) -> dict[str, ProbeResult]:
    """The results whose blame on others their own probes do not bear out, each with those threads as its own
    (unexplained); the others are left out."""
    changed = {}
    for name, result in results.items():
        mismatched = [claim for claim in result.foreign_threads if not _borne_out(claim, results)]
        if mismatched:
            threads = tuple(
                ThreadOnImport(
                    thread=str(claim["thread"]),
                    native=bool(claim["native"]),
                    alive_after_import=True,
                    module=None,
                    unexplained=True,
                    library=claim.get("library"),
                    library_file=claim.get("library_file"),
                )
                for claim in mismatched
            )
            changed[name] = dataclasses.replace(result, findings=result.findings + threads, foreign_threads=())
    return changed


def _borne_out(claim: Mapping[str, Any], results: Mapping[str, ProbeResult]) -> bool:
    other = results.get(str(claim.get("distribution")))
    if other is None or (claim.get("version") and other.version != claim.get("version")):
        return True  # not probed here, or another version: nothing to hold the claim against
    threads = [f for f in other.findings if isinstance(f, ThreadOnImport) and f.alive_after_import]
    own = {(f.native, thread_kind(f.thread)) for f in threads}
    return (bool(claim.get("native")), thread_kind(claim.get("thread"))) in own
