"""The headline (auditor.core.report.describe.headline): the culprit, how it got in and the fix, on one line."""

from __future__ import annotations

import dataclasses

from auditor.core.findings import ForkTrial, ProcessOnImport, ThreadOnImport, Verdict
from auditor.core.report.describe import PartKind, fix_steps, headline, headline_text, plain
from tests.core.test_report import (
    HOSTILE_THREAD,
    caution_telemetry,
    error_broken,
    hostile_distribution,
    make_report,
    safe_requests,
    unsafe_numpy,
)


def _blas(
    env: dict[str, str], alternatives: tuple[dict[str, str], ...] = (), library: str = "OpenBLAS"
) -> ThreadOnImport:
    mitigation = {"env": env, "verified": True, "alternatives": list(alternatives)}
    return ThreadOnImport(
        thread="python", native=True, alive_after_import=True, module="m", library=library, mitigation=mitigation
    )


def numpy_with_openblas():
    return dataclasses.replace(
        unsafe_numpy(), findings=(_blas({"OPENBLAS_NUM_THREADS": "1"}, ({"OMP_NUM_THREADS": "1"},)),)
    )


def numexpr_with_openmp():
    thread = dataclasses.replace(_blas({"NUMEXPR_NUM_THREADS": "1"}, ({"OMP_NUM_THREADS": "1"},), "OpenMP"), count=2)
    return dataclasses.replace(unsafe_numpy(), name="numexpr", version="2.10.1", findings=(thread,))


def test_one_culprit_is_named_with_what_pulled_it_in_and_its_verified_fix():
    report = make_report(safe_requests(), numpy_with_openblas())
    assert headline_text(report) == (
        "numpy 2.4.6 (pulled in by pandas) leaves an OpenBLAS thread running after import — "
        "fix: OPENBLAS_NUM_THREADS=1 (verified)"
    )


def test_several_culprits_share_one_line_of_variables_from_the_audits_fix():
    report = make_report(numpy_with_openblas(), numexpr_with_openmp())
    text = headline_text(report)
    assert text.startswith("numexpr 2.10.1 (pulled in by pandas) and numpy 2.4.6 (pulled in by pandas) leave threads")
    assert text.endswith("— fix: set OMP_NUM_THREADS=1 (verified)")


def test_a_culprit_without_a_verified_variable_is_told_to_import_after_the_fork():
    report = make_report(numpy_with_openblas(), hostile_distribution())
    text = headline_text(report)
    assert "fix: set OPENBLAS_NUM_THREADS=1 (verified, for numpy); import evil-pkg after the fork" in text
    alone = headline_text(make_report(hostile_distribution()))
    assert alone.endswith("— fix: import it after the fork (no setting was verified to stop it)")


def test_a_thread_name_stays_free_text_the_renderers_quote():
    parts = headline(make_report(hostile_distribution()))
    thread = [p for p in parts if p.kind is PartKind.CODE]
    assert len(thread) == 1 and "\x1b" not in thread[0].text and thread[0].text.startswith(HOSTILE_THREAD[:5])
    assert all("\u202e" not in p.text for p in parts)


def test_a_process_and_a_failed_fork_trial_are_named_too():
    process = dataclasses.replace(
        hostile_distribution(),
        name="spawner",
        findings=(ProcessOnImport(command="sleep 100", alive_after_import=True, module="spawner"),),
    )
    assert "spawner 6.6.6 leaves a child process `sleep 100` running after import" in headline_text(
        make_report(process)
    )
    hung = dataclasses.replace(process, name="hanger", findings=(ForkTrial(child="hung"),))
    assert headline_text(make_report(hung)).startswith("hanger 6.6.6 breaks a forked child (fork trial) — fix: import")


def test_more_than_three_culprits_are_counted():
    many = [dataclasses.replace(hostile_distribution(), name=f"pkg-{i}") for i in range(5)]
    assert headline_text(make_report(*many)).startswith(
        "pkg-0 6.6.6, pkg-1 6.6.6, pkg-2 6.6.6 and 2 more leave threads"
    )


def test_nothing_wrong_is_said_quietly_and_cautions_and_errors_are_named():
    assert headline_text(make_report(safe_requests())) == (
        "Fork-safe: nothing is left running or open after import (1 distribution)"
    )
    caution = headline_text(make_report(safe_requests(), caution_telemetry()))
    assert caution.startswith("Fork-safe: nothing is left running after import; caution: telemetry-kit 1.4.0")
    error = headline_text(make_report(error_broken(), caution_telemetry()))
    assert error.startswith("Incomplete: 1 distribution could not be probed: broken-pkg 0.1;")


def test_a_thread_its_library_stops_at_fork_is_a_caution_not_a_culprit():
    stopped = dataclasses.replace(numpy_with_openblas().findings[0], at_fork="stopped")
    numpy = dataclasses.replace(unsafe_numpy(), verdict=Verdict.CAUTION, findings=(stopped,))
    text = headline_text(make_report(numpy))
    assert "caution: numpy 2.4.6 (pulled in by pandas) starts an OpenBLAS thread that its library stops at fork" in text
    assert fix_steps(make_report(numpy)) == []


def test_a_suppressed_distribution_is_no_culprit():
    numpy = dataclasses.replace(numpy_with_openblas(), suppressed="we set OPENBLAS_NUM_THREADS=1")
    assert headline_text(make_report(safe_requests(), numpy)).startswith("Fork-safe")


def test_the_steps_say_where_a_variable_takes_effect_before_the_import_and_how_to_import_after_fork():
    steps = [plain(step) for step in fix_steps(make_report(numpy_with_openblas(), hostile_distribution()))]
    assert steps[0] == "Set OPENBLAS_NUM_THREADS=1 (verified by forkaudit: it stops the threads of numpy)."
    assert "Dockerfile `ENV`" in steps[1] and "systemd's `Environment=`" in steps[1]
    assert "gunicorn's `--env` (`raw_env` in its configuration file) is applied early enough" in steps[1]
    assert "even with `--preload`" in steps[1] and "Celery has no setting for it" in steps[1]
    assert steps[2].startswith("evil-pkg: no setting was verified")
    assert "post_fork" in steps[2] and "worker_process_init" in steps[2] and "forkserver" in steps[2]
    names = [p.text for step in fix_steps(make_report(hostile_distribution())) for p in step if p.kind is PartKind.CODE]
    assert "post_fork" in names and "--preload" in names
