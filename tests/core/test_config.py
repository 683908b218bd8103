from __future__ import annotations

import pytest

from auditor.core.config import ConfigError, apply_suppressions, load_config
from auditor.core.findings import AuditReport, DistributionReport, Environment, Verdict


def write(tmp_path, name, text):
    (tmp_path / name).write_text(text)


def report(*dists: tuple[str, str, Verdict]) -> AuditReport:
    distributions = tuple(DistributionReport(n, v, True, verdict, False, (), (), ()) for n, v, verdict in dists)
    return AuditReport(
        Verdict.worst([d.verdict for d in distributions]), Environment("3.11", "linux", "bwrap"), distributions
    )


def test_load_config_reads_tool_forkaudit_of_pyproject(tmp_path):
    write(
        tmp_path,
        "pyproject.toml",
        '[project]\nname = "app"\n[tool.forkaudit]\nfail-on = "caution"\ntimeout = 30\n'
        '[[tool.forkaudit.suppress]]\npackage = "NumPy"\n'
        'reason = "OPENBLAS_NUM_THREADS=1 in production"\nversion = "<3"\n',
    )

    config = load_config(tmp_path)

    assert config.options == {"fail-on": "caution", "timeout": 30}
    [suppression] = config.suppressions
    assert (suppression.package, suppression.reason) == ("numpy", "OPENBLAS_NUM_THREADS=1 in production")
    assert suppression.matches("numpy", "2.4.6") and not suppression.matches("numpy", "3.0")


def test_load_config_prefers_forkaudit_toml(tmp_path):
    write(tmp_path, "pyproject.toml", '[tool.forkaudit]\nfail-on = "never"\n')
    write(tmp_path, ".forkaudit.toml", 'fail-on = "caution"\n')

    assert load_config(tmp_path).options == {"fail-on": "caution"}


def test_load_config_without_a_file_is_empty(tmp_path):
    write(tmp_path, "pyproject.toml", '[project]\nname = "app"\n')

    config = load_config(tmp_path)

    assert (config.source, config.options, config.suppressions) == (None, {}, ())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[tool.forkaudit.suppress]]\npackage = "numpy"\n', "needs a reason"),
        ('[[tool.forkaudit.suppress]]\npackage = "numpy"\nreason = "  "\n', "needs a reason"),
        ('[[tool.forkaudit.suppress]]\nreason = "x"\n', "needs a package name"),
        ('[[tool.forkaudit.suppress]]\npackage = "a"\nreason = "x"\nversion = "~~1"\n', "not a version specifier"),
        ("[tool.forkaudit]\ncolour = true\n", "unknown setting 'colour'"),
        ('[tool.forkaudit]\ntimeout = "soon"\n', "timeout has the wrong type"),
        ("[tool.forkaudit\n", "cannot read it"),
    ],
)
def test_load_config_refuses_what_it_cannot_use(tmp_path, text, message):
    write(tmp_path, "pyproject.toml", text)

    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)


def test_apply_suppressions_marks_the_distribution_and_leaves_it_out_of_the_verdict(tmp_path):
    write(tmp_path, ".forkaudit.toml", '[[suppress]]\npackage = "numpy"\nreason = "accepted"\n')
    suppressions = load_config(tmp_path).suppressions

    result = apply_suppressions(report(("numpy", "2.0", Verdict.UNSAFE), ("six", "1.0", Verdict.CAUTION)), suppressions)

    assert result.verdict == Verdict.CAUTION
    assert [(d.name, d.verdict, d.suppressed) for d in result.distributions] == [
        ("numpy", Verdict.UNSAFE, "accepted"),
        ("six", Verdict.CAUTION, None),
    ]
    assert result.summary()["suppressed"] == 1
