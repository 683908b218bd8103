"""Where each direct requirement is written (`Requirements.origins`): what reports point at (SARIF locations)."""

from __future__ import annotations

from auditor.core.inputs import RequirementOrigin, parse_requirements


def test_each_direct_requirement_keeps_the_file_and_line_that_first_requires_it():
    files = {
        "requirements.txt": "# the app\n-r base/common.txt\nPandas[excel]>=2 ; python_version >= '3.9'\n\nrequests\n",
        "base/common.txt": "\nrequests==2.32.3 \\\n    --hash=sha256:" + "a" * 64 + "\n-c pins.txt\n",
        "base/pins.txt": "numpy<3\n",
    }

    requirements = parse_requirements(files, main="requirements.txt")

    assert requirements.origins == (
        RequirementOrigin("requests", "base/common.txt", 2),  # a continued line: where it starts
        RequirementOrigin("pandas", "requirements.txt", 3),  # canonical name
    )  # numpy is only a constraint: it brings nothing in
