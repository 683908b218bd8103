"""The repository carries its own design: README.md and docs/ link only to what the repository holds."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "bench" / "README.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# Spelled in two parts, so that this file does not name what it looks for.
OUTSIDE = ("../" + "shared", "DESIGN" + ".md")


def slug(heading: str) -> str:
    """The anchor a code host (GitHub) gives a heading: lower case, punctuation dropped, spaces made hyphens."""
    text = heading.strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def outside_code(text: str) -> list[str]:
    lines, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchors(path: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in outside_code(path.read_text()) if line.startswith("#")}


def links(path: Path) -> list[str]:
    return [target for line in outside_code(path.read_text()) for target in LINK.findall(line)]


def test_slug_follows_the_code_hosts_rule():
    assert slug("One command: `forkaudit serve`") == "one-command-forkaudit-serve"
    assert slug("The host's view outranks the probe's word") == "the-hosts-view-outranks-the-probes-word"
    assert slug("1. Input") == "1-input"


def test_every_link_of_the_readme_and_docs_reaches_a_file_and_heading_of_the_repository():
    broken = []
    for document in DOCUMENTS:
        for target in links(document):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            file, _, anchor = target.partition("#")
            path = (document.parent / file).resolve() if file else document
            if not path.exists() or REPO not in (path, *path.parents):
                broken.append(f"{document.name}: {target} (no such file in the repository)")
            elif anchor and (path.suffix != ".md" or anchor not in anchors(path)):
                broken.append(f"{document.name}: {target} (no such heading)")

    assert not broken


def test_the_design_documents_exist_and_the_readme_links_each():
    readme = set(links(REPO / "README.md"))
    for name in ("architecture.md", "data-flow.md", "sandbox.md", "verdicts.md", "report-schema.md"):
        assert (REPO / "docs" / name).is_file()
        assert f"docs/{name}" in readme


def test_the_readmes_contents_list_every_section():
    text = (REPO / "README.md").read_text()
    contents = next(line for line in text.split("\n\n") if line.startswith("**Contents:**"))
    sections = [line[3:] for line in outside_code(text) if line.startswith("## ")]

    assert len(sections) >= 8
    assert [s for s in sections if f"(#{slug(s)})" not in contents] == []


def test_nothing_in_the_repository_points_outside_it_for_its_design():
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in files:
        path = REPO / name
        if not path.is_file() or path.stat().st_size > 1_000_000:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        offenders += [f"{name}: {word}" for word in OUTSIDE if word in text]

    assert not offenders
