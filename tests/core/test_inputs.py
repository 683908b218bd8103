from __future__ import annotations

import stat
import tempfile
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from auditor.core.inputs import (
    InputError,
    Requirements,
    WheelInfo,
    included_files,
    parse_requirements,
    parse_requirements_text,
    validate_wheel,
    validate_wheel_set,
)
from auditor.core.inputs.wheels import MAX_WHEEL_SET_ENTRIES, MAX_WHEEL_SET_UNPACKED_BYTES, MAX_WHEEL_SET_WHEELS

EXTERNAL = (
    "is not allowed (it reaches outside the configured package index; "
    "FORKAUDIT_ALLOW_EXTERNAL_REQUIREMENTS=true allows it)"
)
SHA_A = "sha256:" + "a" * 64
SHA_B = "sha256:" + "b" * 64


def refusal(text: str | bytes, **kwargs: object) -> str:
    """The text of the InputError that parsing `text` as requirements.txt raises."""
    with pytest.raises(InputError) as caught:
        parse_requirements_text(text, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


def parser_message(text: str) -> str:
    """What a refusal of `text` says: packaging's reason, without the line (which it would quote)."""
    with pytest.raises(InvalidRequirement) as caught:
        Requirement(text)
    return f"({str(caught.value).splitlines()[0]}); the line is not shown"


# ─── InputError ──────────────────────────────────────────────────────────────────────────────────────────────────


def test_input_error_str_names_file_and_line() -> None:
    error = InputError("bad", file="r.txt", line=3)
    assert (str(error), error.message, error.file, error.line) == ("r.txt:3: bad", "bad", "r.txt", 3)
    assert isinstance(error, ValueError)


def test_input_error_str_without_line_or_file() -> None:
    assert str(InputError("bad", file="r.txt")) == "r.txt: bad"
    assert str(InputError("bad")) == "bad"


# ─── Accepted syntax ─────────────────────────────────────────────────────────────────────────────────────────────


def test_parse_requirements_accepts_pins_ranges_extras_and_markers() -> None:
    result = parse_requirements_text(
        "Django==5.1.2\nrequests >= 2.31, <3\nFoo_Bar [socks, security] ~= 1.4\n"
        "numpy; python_version >= '3.11' and sys_platform == \"linux\"\n"
    )
    assert result == Requirements(
        requirements=(
            "Django==5.1.2",
            "requests<3,>=2.31",
            "Foo_Bar[security,socks]~=1.4",
            'numpy; python_version >= "3.11" and sys_platform == "linux"',
        ),
        constraints=(),
        direct_names=("django", "requests", "foo-bar", "numpy"),
    )


def test_parse_requirements_skips_comments_and_blank_lines() -> None:
    result = parse_requirements_text("# top comment\n\n   \nrequests==2.32.3  # pinned for CI\n\t# indented\n")
    assert result.requirements == ("requests==2.32.3",)


def test_parse_requirements_keeps_a_hash_sign_inside_a_url_fragment_free_requirement() -> None:
    # Only `#` at the start or after whitespace starts a comment, as in pip.
    assert refusal("foo==1.0#not-a-comment\n") == (
        f"requirements.txt:1: invalid requirement {parser_message('foo==1.0#not-a-comment')}"
    )


def test_parse_requirements_drops_hashes_on_continuation_lines() -> None:
    text = f"# hashed\nrequests==2.32.3 \\\n    --hash={SHA_A} \\\n    --hash {SHA_B}\nidna==3.7 --hash={SHA_A}\n"
    result = parse_requirements_text(text)
    assert result.requirements == ("requests==2.32.3", "idna==3.7")


def test_parse_requirements_reports_physical_line_numbers_after_continuations() -> None:
    text = f"requests==2.32.3 \\\n    --hash={SHA_A} \\\n    --hash={SHA_B}\n\nfoo bar\n"
    assert refusal(text) == f"requirements.txt:5: invalid requirement {parser_message('foo bar')}"


def test_parse_requirements_reports_line_numbers_with_crlf_and_cr_endings() -> None:
    assert refusal("a==1\r\nb==2\r\n-i https://x\r\n") == f"requirements.txt:3: -i (--index-url) {EXTERNAL}"
    assert refusal("a==1\rb==2\r-i https://x\r") == f"requirements.txt:3: -i (--index-url) {EXTERNAL}"


def test_parse_requirements_names_the_first_line_of_a_continued_line() -> None:
    assert refusal("ok==1\nfoo \\\n  bar\n") == f"requirements.txt:2: invalid requirement {parser_message('foo   bar')}"


def test_parse_requirements_ignores_a_comment_line_inside_a_continuation() -> None:
    assert parse_requirements_text("foo==1 \\\n# note\nbar==2\n").requirements == ("foo==1", "bar==2")


def test_parse_requirements_strips_a_byte_order_mark() -> None:
    assert parse_requirements_text("\ufeffrequests\n").requirements == ("requests",)
    assert parse_requirements_text(b"\xef\xbb\xbfrequests\n").requirements == ("requests",)


def test_parse_requirements_accepts_bytes_in_utf8() -> None:
    text = "# caf\u00e9 \u2615\nfoo==1\n".encode()
    assert parse_requirements({"r.txt": text}, main="r.txt") == Requirements(
        requirements=("foo==1",), constraints=(), direct_names=("foo",)
    )


def test_parse_requirements_sets_prereleases_for_pre() -> None:
    result = parse_requirements_text("--pre\nfoo>=1.0\n")
    assert (result.prereleases, result.requirements, result.options) == (True, ("foo>=1.0",), ())


@pytest.mark.parametrize(
    "line",
    [
        "--only-binary :all:",
        "--only-binary=:all:",
        "--no-binary numpy",
        "--prefer-binary",
        "--require-hashes",
        "--no-index",
        "--use-feature=truststore",
    ],
)
def test_parse_requirements_accepts_and_drops_install_format_options(line: str) -> None:
    result = parse_requirements_text(f"{line}\nfoo==1\n")
    assert result == Requirements(requirements=("foo==1",), constraints=(), direct_names=("foo",))


def test_parse_requirements_deduplicates_identical_requirements() -> None:
    result = parse_requirements_text("foo==1\nbar\nfoo==1\n")
    assert (result.requirements, result.direct_names) == (("foo==1", "bar"), ("foo", "bar"))


def test_requirements_as_text_renders_a_file_that_parses_back() -> None:
    result = parse_requirements(
        {"r.txt": "Foo [x] >= 1 ; os_name == 'posix'\nbar==2\n-c c.txt\n", "c.txt": "baz<3\n"}, main="r.txt"
    )
    assert result.as_text() == 'Foo[x]>=1; os_name == "posix"\nbar==2\n'
    assert result.constraints_as_text() == "baz<3\n"
    again = parse_requirements_text(result.as_text())
    assert (again.requirements, again.direct_names) == (result.requirements, result.direct_names)


def test_requirements_constraints_as_text_is_empty_without_constraints() -> None:
    assert parse_requirements_text("foo\n").constraints_as_text() == ""


# ─── Refused options and sources ─────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-e .", f"-e (--editable) {EXTERNAL}"),
        ("--editable=git+https://github.com/a/b#egg=b", f"--editable {EXTERNAL}"),
        ("-i https://mirror.example/simple", f"-i (--index-url) {EXTERNAL}"),
        ("--index-url https://mirror.example/simple", f"--index-url {EXTERNAL}"),
        ("--index-url=https://mirror.example/simple", f"--index-url {EXTERNAL}"),
        ("--extra-index-url https://mirror.example/simple", f"--extra-index-url {EXTERNAL}"),
        ("-f https://example.com/wheels/", f"-f (--find-links) {EXTERNAL}"),
        ("--find-links ./wheels", f"--find-links {EXTERNAL}"),
        ("--trusted-host mirror.example", f"--trusted-host {EXTERNAL}"),
        ("file:///srv/pkg", f"a file: URL ('file:///srv/pkg') {EXTERNAL}"),
        ("pkg @ file:///srv/pkg", f"a file: URL ('pkg @ file:///srv/pkg') {EXTERNAL}"),
        ("./pkg", f"a local path ('./pkg') {EXTERNAL}"),
        ("../pkg[extra]", f"a local path ('../pkg[extra]') {EXTERNAL}"),
        ("/etc/passwd", f"a local path ('/etc/passwd') {EXTERNAL}"),
        ("~/src/pkg", f"a local path ('~/src/pkg') {EXTERNAL}"),
        ("src/pkg", f"a local path ('src/pkg') {EXTERNAL}"),
        ("dist/pkg-1.0.tar.gz", f"a local path ('dist/pkg-1.0.tar.gz') {EXTERNAL}"),
        ("pkg-1.0-py3-none-any.whl", f"a local path ('pkg-1.0-py3-none-any.whl') {EXTERNAL}"),
        ("pkg @ ./pkg", f"a local path ('pkg @ ./pkg') {EXTERNAL}"),
        (
            "git+https://github.com/a/b.git@v1#egg=b",
            f"a VCS URL ('git+https://github.com/a/b.git@v1#egg=b') {EXTERNAL}",
        ),
        ("b @ git+https://github.com/a/b.git", f"a VCS URL ('b @ git+https://github.com/a/b.git') {EXTERNAL}"),
        (
            "https://example.com/b-1.0.tar.gz",
            f"a direct URL requirement ('https://example.com/b-1.0.tar.gz') {EXTERNAL}",
        ),
        (
            "b @ https://example.com/b-1.0.whl",
            f"a direct URL requirement ('b @ https://example.com/b-1.0.whl') {EXTERNAL}",
        ),
    ],
)
def test_parse_requirements_refuses_external_sources_with_file_and_line(line: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_requirements({"reqs/dev.txt": f"# dev tools\nrequests==2.32.3\n{line}\n"}, main="reqs/dev.txt")
    assert (str(caught.value), caught.value.file, caught.value.line) == (
        f"reqs/dev.txt:3: {message}",
        "reqs/dev.txt",
        3,
    )


@pytest.mark.parametrize(
    ("line", "requirements", "direct_names", "options"),
    [
        ("-e .", ("-e .",), (), ()),
        ("--editable=git+https://github.com/a/b#egg=B_c", ("-e git+https://github.com/a/b#egg=B_c",), ("b-c",), ()),
        ("-i https://mirror.example/simple", (), (), ("--index-url https://mirror.example/simple",)),
        ("--extra-index-url=https://m.example/simple", (), (), ("--extra-index-url https://m.example/simple",)),
        ("-f ./wheels", (), (), ("--find-links ./wheels",)),
        ("--trusted-host mirror.example", (), (), ("--trusted-host mirror.example",)),
        ("./pkg", ("./pkg",), (), ()),
        ("pkg-1.0-py3-none-any.whl", ("pkg-1.0-py3-none-any.whl",), (), ()),
        ("file:///srv/pkg", ("file:///srv/pkg",), (), ()),
        ("git+https://github.com/a/b.git#egg=b", ("git+https://github.com/a/b.git#egg=b",), ("b",), ()),
        ("B @ https://example.com/b-1.0.whl", (str(Requirement("B @ https://example.com/b-1.0.whl")),), ("b",), ()),
    ],
)
def test_parse_requirements_passes_external_sources_through_when_allowed(
    line: str, requirements: tuple[str, ...], direct_names: tuple[str, ...], options: tuple[str, ...]
) -> None:
    result = parse_requirements_text(f"requests==2.32.3\n{line}\n", allow_external=True)
    assert result == Requirements(
        requirements=("requests==2.32.3", *requirements),
        constraints=(),
        direct_names=("requests", *direct_names),
        options=options,
    )


def test_parse_requirements_refuses_an_allowed_path_that_ends_with_a_backslash() -> None:
    # The last backslash continues the line; the one left would continue the line again when written back for uv.
    assert refusal("foo\n..\\pkg\\\\\n", allow_external=True) == (
        "requirements.txt:2: a local path ('..\\\\pkg\\\\') ends with a backslash"
    )


def test_requirements_as_text_puts_allowed_index_options_first() -> None:
    result = parse_requirements_text("foo==1\n-i https://mirror.example/simple\n", allow_external=True)
    assert result.as_text() == "--index-url https://mirror.example/simple\nfoo==1\n"


def test_parse_requirements_refuses_an_option_after_a_requirement() -> None:
    assert refusal("foo==1 -i https://x\n") == "requirements.txt:1: -i cannot follow a requirement on the same line"
    assert refusal("foo==1 -i https://x\n", allow_external=True) == (
        "requirements.txt:1: -i cannot follow a requirement on the same line"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo==1 --hash=md5:abc\n", "--hash 'md5:abc' is not of the form sha256:<hex digest>"),
        ("foo==1 --hash=sha256:abc\n", "--hash 'sha256:abc' is not of the form sha256:<hex digest>"),
        (f"--hash={SHA_A}\nfoo\n", "--hash must follow a requirement on the same line"),
        ("--config-settings a=b\nfoo\n", "--config-settings is not supported (build options are not passed on)"),
        ("foo==1 --global-option=x\n", "--global-option cannot follow a requirement on the same line"),
        ("--bogus\nfoo\n", "'--bogus' is not a supported option"),
        ("-x foo\n", "'-x' is not a supported option"),
        ("-r\n", "-r needs a value"),
        ("--requirement=\nfoo\n", "--requirement needs a value"),
        ("--pre=yes\nfoo\n", "--pre takes no value"),
        ("--pre stray\nfoo\n", "unexpected text 'stray' after an option"),
        ("-r 'base.txt\n", "cannot split options: No closing quotation"),
        ("-r 'my reqs.txt'\n", "-r 'my reqs.txt': spaces, quotes, backslashes and a leading # are not supported"),
        ("-e#x\n", "-e '#x': spaces, quotes, backslashes and a leading # are not supported"),
        (
            "foo==${HOME}\n",
            "environment variable references like ${NAME} are not allowed (they would be expanded on the server)",
        ),
    ],
)
def test_parse_requirements_refuses_malformed_options(text: str, message: str) -> None:
    assert refusal(text) == f"requirements.txt:1: {message}"


def test_parse_requirements_refuses_an_invalid_requirement_with_the_parser_message() -> None:
    assert refusal("ok==1\nfoo bar\n") == f"requirements.txt:2: invalid requirement {parser_message('foo bar')}"
    bad_marker = "ok; nonsense == 'x'"
    assert refusal(f"{bad_marker}\n") == f"requirements.txt:1: invalid requirement {parser_message(bad_marker)}"


# ─── Includes and constraints ────────────────────────────────────────────────────────────────────────────────────


def test_parse_requirements_follows_nested_includes_relative_to_the_including_file() -> None:
    files = {
        "requirements.txt": "-r requirements/dev.txt\nrequests\n",
        "requirements/dev.txt": "--requirement base.txt\npytest==8.3.3\n",
        "requirements/base.txt": "-r ../common.txt\ndjango==5.1.2\n",
        "common.txt": "celery>=5.4\n",
        "unused.txt": b"\xff never read",
    }
    result = parse_requirements(files, main="requirements.txt")
    assert result == Requirements(
        requirements=("celery>=5.4", "django==5.1.2", "pytest==8.3.3", "requests"),
        constraints=(),
        direct_names=("celery", "django", "pytest", "requests"),
    )


def test_parse_requirements_reads_a_file_included_twice_once() -> None:
    files = {"a.txt": "-r base.txt\n-r b.txt\n", "b.txt": "-r base.txt\nb\n", "base.txt": "base\n"}
    assert parse_requirements(files, main="a.txt").requirements == ("base", "b")


def test_parse_requirements_accepts_several_main_files() -> None:
    files = {"prod.txt": "django\n", "dev.txt": "pytest\n", "./docs.txt": "sphinx\n"}
    result = parse_requirements(files, main=["prod.txt", "dev.txt", "docs.txt"])
    assert result.direct_names == ("django", "pytest", "sphinx")


def test_parse_requirements_refuses_an_include_missing_from_the_upload() -> None:
    with pytest.raises(InputError) as caught:
        parse_requirements({"r.txt": "foo\n\n-r base.txt\n", "other.txt": "x\n"}, main="r.txt")
    assert str(caught.value) == "r.txt:3: -r 'base.txt': no such file in the upload (uploaded: other.txt, r.txt)"


@pytest.mark.parametrize(
    "target",
    ["/etc/passwd", "https://example.com/requirements.txt", "file:///etc/passwd", "C:/reqs.txt"],
)
def test_parse_requirements_refuses_an_include_that_is_not_an_uploaded_name(target: str) -> None:
    files = {"r.txt": f"foo\n-c {target}\n", target: "bar\n"}
    with pytest.raises(InputError) as caught:
        parse_requirements(files, main="r.txt")
    assert str(caught.value) == (f"r.txt:2: -c {target!r}: an include must name another uploaded file by relative path")


def test_parse_requirements_refuses_an_include_cycle() -> None:
    files = {"a.txt": "foo\n-r sub/b.txt\n", "sub/b.txt": "-r ../a.txt\n"}
    with pytest.raises(InputError) as caught:
        parse_requirements(files, main="a.txt")
    assert (str(caught.value), caught.value.file, caught.value.line) == (
        "sub/b.txt:1: include cycle: a.txt -> sub/b.txt -> a.txt",
        "sub/b.txt",
        1,
    )


def test_parse_requirements_refuses_a_file_that_includes_itself() -> None:
    assert refusal("foo\n-r requirements.txt\n") == (
        "requirements.txt:2: include cycle: requirements.txt -> requirements.txt"
    )


def test_parse_requirements_refuses_a_main_file_missing_from_the_upload() -> None:
    with pytest.raises(InputError) as caught:
        parse_requirements({"r.txt": "foo\n"}, main="requirements.txt")
    assert str(caught.value) == "requirements.txt: no such file in the upload"
    with pytest.raises(InputError) as caught:
        parse_requirements({"r.txt": "foo\n"}, main=[])
    assert str(caught.value) == "no requirements file given"


def test_parse_requirements_collects_constraints_separately() -> None:
    files = {
        "requirements.txt": "-c constraints.txt\ncelery\n",
        "constraints.txt": "--constraint more/pins.txt\nkombu<5.5 --hash=" + SHA_A + "\n-r extra.txt\n",
        "more/pins.txt": "billiard==4.2.1\n",
        "extra.txt": "redis\n",
    }
    result = parse_requirements(files, main="requirements.txt")
    assert result == Requirements(
        requirements=("redis", "celery"),
        constraints=("billiard==4.2.1", "kombu<5.5"),
        direct_names=("redis", "celery"),
    )
    assert result.constraints_as_text() == "billiard==4.2.1\nkombu<5.5\n"


def test_parse_requirements_refuses_external_sources_in_constraint_files() -> None:
    with pytest.raises(InputError) as caught:
        parse_requirements({"r.txt": "-c c.txt\nfoo\n", "c.txt": "bar==1\n--extra-index-url https://x\n"}, main="r.txt")
    assert str(caught.value) == f"c.txt:2: --extra-index-url {EXTERNAL}"


def test_included_files_lists_relative_includes() -> None:
    text = "-r base.txt\n--constraint=../c.txt\n-r /abs.txt\n-r https://x/r.txt\nfoo\n-r 'unclosed\n"
    assert included_files(text, name="reqs/dev.txt") == ("reqs/base.txt", "c.txt")


# ─── Refused content ─────────────────────────────────────────────────────────────────────────────────────────────


def test_parse_requirements_refuses_an_empty_set() -> None:
    assert refusal("") == "requirements.txt: no requirements found (only comments, blank lines or options)"
    assert refusal("# nothing\n\n--pre\n") == (
        "requirements.txt: no requirements found (only comments, blank lines or options)"
    )


def test_parse_requirements_refuses_a_set_with_only_constraints() -> None:
    with pytest.raises(InputError) as caught:
        parse_requirements({"r.txt": "-c c.txt\n", "c.txt": "foo==1\n"}, main="r.txt")
    assert str(caught.value) == "r.txt: no requirements found (only comments, blank lines or options)"


def test_parse_requirements_refuses_bytes_that_are_not_utf8() -> None:
    assert refusal(b"foo==1\nbar\xff\xfe==2\n") == "requirements.txt:2: is not valid UTF-8 text (byte 0xff)"


def test_parse_requirements_refuses_text_that_cannot_be_utf8() -> None:
    assert refusal("foo==1\n\udcff\n") == "requirements.txt: is not valid UTF-8 text"


def test_parse_requirements_refuses_nul_bytes() -> None:
    assert refusal("foo==1\nbar\x00baz\n") == "requirements.txt:2: contains NUL bytes (is it a binary file?)"
    assert refusal(b"\x00\x00\x00") == "requirements.txt:1: contains NUL bytes (is it a binary file?)"


def test_parse_requirements_refuses_control_characters() -> None:
    assert refusal("foo==1\n\nbar\x1b[31m\n") == "requirements.txt:3: contains control characters (is it a text file?)"


def test_parse_requirements_refuses_a_10_mb_file() -> None:
    big = "requests==2.32.3\n" * (10 * 2**20 // 17 + 1)
    assert refusal(big) == "requirements.txt: is larger than the limit of 1,000,000 bytes"
    assert refusal(big.encode()) == "requirements.txt: is larger than the limit of 1,000,000 bytes"


def test_parse_requirements_counts_the_limit_in_utf8_bytes() -> None:
    text = "# " + "\u00e9" * 60 + "\nfoo\n"  # 67 characters, 127 bytes
    with pytest.raises(InputError) as caught:
        parse_requirements({"r.txt": text}, main="r.txt", max_bytes=100)
    assert str(caught.value) == "r.txt: is larger than the limit of 100 bytes"
    assert parse_requirements({"r.txt": text}, main="r.txt", max_bytes=127).requirements == ("foo",)


# ─── Properties ──────────────────────────────────────────────────────────────────────────────────────────────────

NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,8}([-_.][A-Za-z0-9]{1,8}){0,2}", fullmatch=True)
VERSIONS = st.lists(st.integers(min_value=0, max_value=999), min_size=1, max_size=4).map(
    lambda parts: ".".join(map(str, parts))
)


@given(st.text(max_size=400))
def test_parse_requirements_text_raises_only_input_error_on_any_text(text: str) -> None:
    try:
        result = parse_requirements_text(text)
    except InputError as error:
        assert str(error).startswith("requirements.txt")
    else:
        assert result.requirements and len(result.direct_names) == len(result.requirements)


FRAGMENTS = st.sampled_from(
    [
        "foo",
        "==1",
        "[x]",
        "; os_name == 'nt'",
        " @ https://a/b",
        "-r",
        "-c",
        " a.txt",
        "-e",
        "-i",
        "--pre",
        "--hash=",
        "sha256:" + "a" * 64,
        ".",
        "/",
        "\\",
        "\n",
        "\r",
        " ",
        "#",
        "'",
        "=",
        "git+",
        "file:",
        "\t",
        "-",
        ":",
    ]
)


@given(st.lists(FRAGMENTS, max_size=25), st.booleans())
def test_parse_requirements_output_parses_back_to_the_same_set(parts: list[str], allow_external: bool) -> None:
    text = "".join(parts)
    try:
        result = parse_requirements({"r.txt": text, "a.txt": text}, main="r.txt", allow_external=allow_external)
    except InputError:
        return
    again = parse_requirements_text(result.as_text(), allow_external=allow_external)
    assert (again.requirements, again.direct_names, again.options) == (
        result.requirements,
        result.direct_names,
        result.options,
    )


@given(st.binary(max_size=400))
def test_parse_requirements_raises_only_input_error_on_any_bytes(data: bytes) -> None:
    try:
        parse_requirements({"r.txt": data}, main="r.txt")
    except InputError as error:
        assert error.file == "r.txt"


@given(st.lists(st.tuples(NAMES, VERSIONS), min_size=1, max_size=20, unique_by=lambda pin: canonicalize_name(pin[0])))
def test_parse_requirements_round_trips_pinned_lists(pins: list[tuple[str, str]]) -> None:
    text = "".join(f"{name}=={version}  # pinned\n" for name, version in pins)
    result = parse_requirements_text(text)
    assert result.requirements == tuple(f"{name}=={version}" for name, version in pins)
    assert result.direct_names == tuple(canonicalize_name(name) for name, _ in pins)
    assert parse_requirements_text(result.as_text()) == result


# ─── Wheels ──────────────────────────────────────────────────────────────────────────────────────────────────────

DIST_INFO = "demo_pkg-1.0.dist-info"


def make_wheel(
    directory: Path,
    filename: str = "demo_pkg-1.0-py3-none-any.whl",
    *,
    project: str = "demo_pkg",
    metadata_name: str | None = None,
    omit: tuple[str, ...] = (),
    extra: tuple[zipfile.ZipInfo | str, ...] = (),
    zeros: int = 0,
) -> Path:
    """Write a small wheel of `project` 1.0; `omit` drops members, `extra` adds small ones, `zeros` adds a member of
    that many zero bytes (compressed: it unpacks to far more than the wheel's size)."""
    dist_info = f"{project}-1.0.dist-info"
    members = {
        f"{project}/__init__.py": b"VALUE = 1\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {metadata_name or project}\nVersion: 1.0\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/RECORD": b"",
    }
    path = directory / filename
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            if name not in omit:
                archive.writestr(name, data)
        for member in extra:
            archive.writestr(member, b"x")
        if zeros:
            archive.writestr(f"{project}/zeros.bin", bytes(zeros), compress_type=zipfile.ZIP_DEFLATED)
    return path


def wheel_refusal(path: Path, **limits: int) -> str:
    with pytest.raises(InputError) as caught:
        validate_wheel(path, **limits)
    assert (caught.value.file, caught.value.line) == (path.name, None)
    return str(caught.value)


def test_validate_wheel_accepts_a_valid_wheel(tmp_path: Path) -> None:
    path = make_wheel(tmp_path)
    assert validate_wheel(path) == WheelInfo(path=path, name="demo-pkg", version="1.0", tags=("py3-none-any",))


def test_validate_wheel_reports_all_tags_sorted(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, "demo_pkg-1.0-py2.py3-none-any.whl")
    assert validate_wheel(path).tags == ("py2-none-any", "py3-none-any")


def test_validate_wheel_refuses_a_bad_file_name(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, "demo_pkg.whl")
    with pytest.raises(InvalidWheelFilename) as expected:
        parse_wheel_filename(path.name)
    assert wheel_refusal(path) == f"demo_pkg.whl: is not a valid wheel file name (PEP 427): {expected.value}"


def test_validate_wheel_refuses_a_file_that_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    path.write_bytes(b"#!/bin/sh\necho not a wheel\n")
    assert wheel_refusal(path) == "demo_pkg-1.0-py3-none-any.whl: is not a valid zip archive (File is not a zip file)"


def test_validate_wheel_refuses_a_missing_file(tmp_path: Path) -> None:
    assert wheel_refusal(tmp_path / "gone-1.0-py3-none-any.whl") == "gone-1.0-py3-none-any.whl: cannot be read"


@pytest.mark.parametrize(
    "member",
    ["../evil.py", "demo_pkg/../../evil.py", "/etc/cron.d/evil", "demo_pkg\\..\\evil.py", "C:/evil.py", "a//b.py"],
)
def test_validate_wheel_refuses_unsafe_member_paths(tmp_path: Path, member: str) -> None:
    path = make_wheel(tmp_path, extra=(member,))
    assert wheel_refusal(path) == f"demo_pkg-1.0-py3-none-any.whl: contains an unsafe member path {member!r}"


def test_validate_wheel_refuses_a_symbolic_link(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("demo_pkg/link.py")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = make_wheel(tmp_path, extra=(link,))
    assert wheel_refusal(path) == "demo_pkg-1.0-py3-none-any.whl: contains a symbolic link 'demo_pkg/link.py'"


def test_validate_wheel_refuses_a_duplicated_member(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate we mean to write
        path = make_wheel(tmp_path, extra=("demo_pkg/__init__.py",))
    assert wheel_refusal(path) == "demo_pkg-1.0-py3-none-any.whl: contains the member 'demo_pkg/__init__.py' twice"


@pytest.mark.parametrize("member", ["METADATA", "WHEEL", "RECORD"])
def test_validate_wheel_refuses_a_missing_dist_info_file(tmp_path: Path, member: str) -> None:
    path = make_wheel(tmp_path, omit=(f"{DIST_INFO}/{member}",))
    assert wheel_refusal(path) == f"demo_pkg-1.0-py3-none-any.whl: has no {DIST_INFO}/{member}"


def test_validate_wheel_refuses_a_wheel_without_dist_info(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, omit=tuple(f"{DIST_INFO}/{m}" for m in ("METADATA", "WHEEL", "RECORD")))
    assert wheel_refusal(path) == "demo_pkg-1.0-py3-none-any.whl: has no .dist-info directory"


def test_validate_wheel_refuses_a_dist_info_of_another_distribution(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, "other-1.0-py3-none-any.whl")
    assert wheel_refusal(path) == f"other-1.0-py3-none-any.whl: {DIST_INFO} does not match the file name (other 1.0)"


def test_validate_wheel_refuses_two_dist_info_directories(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, extra=("other-2.0.dist-info/METADATA",))
    assert wheel_refusal(path) == (
        f"demo_pkg-1.0-py3-none-any.whl: has more than one .dist-info directory: {DIST_INFO}, other-2.0.dist-info"
    )


def test_validate_wheel_refuses_a_metadata_name_mismatch(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, metadata_name="requests")
    assert wheel_refusal(path) == (
        "demo_pkg-1.0-py3-none-any.whl: METADATA names 'requests 1.0', but the file name says demo-pkg 1.0"
    )


def test_validate_wheel_accepts_a_metadata_name_that_normalizes_equal(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, metadata_name="Demo.Pkg")
    assert validate_wheel(path).name == "demo-pkg"


def test_validate_wheel_refuses_too_many_entries(tmp_path: Path) -> None:
    path = make_wheel(tmp_path)
    assert wheel_refusal(path, max_entries=3) == "demo_pkg-1.0-py3-none-any.whl: has 4 entries; the limit is 3"


def test_validate_wheel_refuses_a_file_that_is_too_large(tmp_path: Path) -> None:
    path = make_wheel(tmp_path)
    assert wheel_refusal(path, max_bytes=100) == "demo_pkg-1.0-py3-none-any.whl: is larger than the limit of 100 bytes"


def test_validate_wheel_refuses_too_much_uncompressed_data(tmp_path: Path) -> None:
    path = make_wheel(tmp_path)
    unpacked = sum(member.file_size for member in zipfile.ZipFile(path).infolist())
    assert wheel_refusal(path, max_uncompressed=50) == (
        f"demo_pkg-1.0-py3-none-any.whl: unpacks to {unpacked:,} bytes, more than the limit of 50 bytes"
    )


def test_validate_wheel_set_returns_each_wheel(tmp_path: Path) -> None:
    first = make_wheel(tmp_path)
    second = make_wheel(tmp_path, "other_pkg-1.0-py3-none-any.whl", project="other_pkg")
    assert validate_wheel_set(iter([first, second])) == (
        WheelInfo(path=first, name="demo-pkg", version="1.0", tags=("py3-none-any",)),
        WheelInfo(path=second, name="other-pkg", version="1.0", tags=("py3-none-any",)),
    )


def test_validate_wheel_set_refuses_two_wheels_of_one_name(tmp_path: Path) -> None:
    first = make_wheel(tmp_path)
    second = make_wheel(tmp_path, "demo_pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.whl")
    with pytest.raises(InputError) as caught:
        validate_wheel_set([first, second])
    assert str(caught.value) == (
        "demo_pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.whl: two wheels of demo-pkg: "
        "demo_pkg-1.0-py3-none-any.whl and demo_pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    )


def test_validate_wheel_set_refuses_an_empty_set() -> None:
    with pytest.raises(InputError) as caught:
        validate_wheel_set([])
    assert str(caught.value) == "no wheels given"


def test_validate_wheel_set_applies_the_limits(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        validate_wheel_set([make_wheel(tmp_path)], max_entries=1)
    assert str(caught.value) == "demo_pkg-1.0-py3-none-any.whl: has 4 entries; the limit is 1"


def wheel_set_refusal(paths: list[Path], **limits: int) -> str:
    with pytest.raises(InputError) as caught:
        validate_wheel_set(paths, **limits)
    assert (caught.value.file, caught.value.line) == (None, None)  # about the set, not one of its files
    return str(caught.value)


def unpacked_bytes(paths: list[Path]) -> int:
    """What the zips declare their members unpack to, in all."""
    total = 0
    for path in paths:
        with zipfile.ZipFile(path) as archive:
            total += sum(member.file_size for member in archive.infolist())
    return total


def zero_wheels(directory: Path, count: int, zeros: int) -> list[Path]:
    return [
        make_wheel(directory, f"pkg_{n}-1.0-py3-none-any.whl", project=f"pkg_{n}", zeros=zeros) for n in range(count)
    ]


def test_validate_wheel_set_refuses_wheels_that_together_unpack_to_more_than_the_limit(tmp_path: Path) -> None:
    # Each wheel is within its own limit; three of them are not (the attack: 3 MiB of wheels, 2.9 GiB unpacked).
    paths = zero_wheels(tmp_path, 3, 64 * 2**20)
    total = unpacked_bytes(paths)
    assert sum(path.stat().st_size for path in paths) < 2**20

    assert wheel_set_refusal(paths, max_set_uncompressed=150 * 2**20) == (
        f"the wheels unpack to {total:,} bytes, more than the limit of {150 * 2**20:,} bytes"
    )


def test_validate_wheel_set_accepts_wheels_that_unpack_to_exactly_the_limit(tmp_path: Path) -> None:
    paths = zero_wheels(tmp_path, 2, 1000)

    assert len(validate_wheel_set(paths, max_set_uncompressed=unpacked_bytes(paths))) == 2
    assert wheel_set_refusal(paths, max_set_uncompressed=unpacked_bytes(paths) - 1).startswith("the wheels unpack to")


def test_validate_wheel_set_refuses_too_many_entries_in_all(tmp_path: Path) -> None:
    paths = zero_wheels(tmp_path, 2, 0)  # four entries each, within the limit of one wheel

    assert len(validate_wheel_set(paths, max_set_entries=8)) == 2
    assert wheel_set_refusal(paths, max_set_entries=7) == "the wheels have 8 entries in all, more than the limit of 7"


def test_validate_wheel_set_refuses_too_many_wheels_before_opening_any(tmp_path: Path) -> None:
    missing = [tmp_path / f"gone_{n}-1.0-py3-none-any.whl" for n in range(3)]  # opening one would fail otherwise

    assert wheel_set_refusal(missing, max_wheels=2) == "3 wheels given, more than the limit of 2"


def test_validate_wheel_set_limits_a_set_by_default(tmp_path: Path) -> None:
    # The limits that are in force when the CLI and the service validate uploads, which pass none.
    paths = zero_wheels(tmp_path, 1, 0)
    validate_wheel_set(paths)  # a small set passes
    assert wheel_set_refusal(paths * 1001) == "1,001 wheels given, more than the limit of 1,000"
    # As README.md documents them.
    assert (MAX_WHEEL_SET_WHEELS, MAX_WHEEL_SET_ENTRIES, MAX_WHEEL_SET_UNPACKED_BYTES) == (1_000, 200_000, 2 * 2**30)


@given(st.binary(max_size=300), st.binary(max_size=100))
def test_validate_wheel_raises_only_input_error_on_any_metadata(metadata: bytes, wheel: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "demo_pkg-1.0-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(f"{DIST_INFO}/METADATA", metadata)
            archive.writestr(f"{DIST_INFO}/WHEEL", wheel)
            archive.writestr(f"{DIST_INFO}/RECORD", b"")
        try:
            assert validate_wheel(path).name == "demo-pkg"
        except InputError as error:
            assert error.file == path.name


@given(st.binary(min_size=1, max_size=2000))
def test_validate_wheel_raises_only_input_error_on_a_damaged_zip(noise: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = make_wheel(Path(directory))
        data = bytearray(path.read_bytes())
        for index, byte in enumerate(noise):
            data[(index * 7919 + byte) % len(data)] ^= byte
        path.write_bytes(bytes(data))
        try:
            validate_wheel(path)
        except InputError as error:
            assert error.file == path.name


def test_a_refused_line_is_not_repeated_in_the_message():
    # An include may reach any file of the project (a .git/config holding a CI token), and messages reach CI logs.
    files = {
        "requirements.txt": "six\n-r .git/config\n",
        ".git/config": "extraheader = AUTHORIZATION: basic c2VjcmV0\n",
    }
    with pytest.raises(InputError) as caught:
        parse_requirements(files, main="requirements.txt")
    message = str(caught.value)

    assert message.startswith(".git/config:1: invalid requirement (")
    assert "c2VjcmV0" not in message
