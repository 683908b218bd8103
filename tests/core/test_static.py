from __future__ import annotations

import ast
import logging
import os
import sys
import textwrap
from pathlib import Path

import libcst
import pytest

from auditor.core import static
from auditor.core.findings import AtforkHandler, Finding, ForkCall, ImportFailure, RuntimeThread
from auditor.core.static import libcst_pass, module_level_thread_modules, prefilter, scan_files


def write(root: Path, relative: str, source: str | bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, str):
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    else:
        path.write_bytes(source)
    return path


def scan_one(root: Path, source: str, relative: str = "pkg/mod.py") -> list[Finding]:
    return scan_files([write(root, relative, source)], root=root)


@pytest.fixture
def libcst_reads(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """What the scan gives libcst to parse, in order."""
    parsed: list[bytes] = []
    parse_module = libcst.parse_module
    monkeypatch.setattr(libcst_pass.cst, "parse_module", lambda source: parsed.append(source) or parse_module(source))
    return parsed


def thread(call: str, line: int, scope: str = "module") -> RuntimeThread:
    return RuntimeThread(call=call, scope=scope, module="pkg.mod", file="pkg/mod.py", line=line)


@pytest.mark.parametrize(
    ("source", "call"),
    [
        ("import threading\nthreading.Thread(target=print)\n", "threading.Thread"),
        ("import threading\nthreading.Timer(1.0, print)\n", "threading.Timer"),
        ("import _thread\n_thread.start_new_thread(print, ())\n", "_thread.start_new_thread"),
        ("import _thread\n_thread.start_new(print, ())\n", "_thread.start_new"),
        (
            "import concurrent.futures\nconcurrent.futures.ThreadPoolExecutor()\n",
            "concurrent.futures.ThreadPoolExecutor",
        ),
        (
            "import concurrent.futures.thread\nconcurrent.futures.thread.ThreadPoolExecutor()\n",
            "concurrent.futures.thread.ThreadPoolExecutor",
        ),
        ("import multiprocessing.pool\nmultiprocessing.pool.ThreadPool(2)\n", "multiprocessing.pool.ThreadPool"),
        ("import multiprocessing.dummy\nmultiprocessing.dummy.Pool(2)\n", "multiprocessing.dummy.Pool"),
    ],
)
def test_scan_files_finds_each_thread_call(tmp_path: Path, source: str, call: str) -> None:
    assert scan_one(tmp_path, source) == [thread(call, line=2)]


def test_scan_files_resolves_aliases_and_from_imports(tmp_path: Path) -> None:
    source = """\
        import threading as th
        from threading import Thread as T
        from concurrent import futures
        from multiprocessing.pool import ThreadPool
        th.Thread()
        T()
        futures.ThreadPoolExecutor(max_workers=2)
        ThreadPool()
        def later():
            from _thread import start_new_thread as spawn
            spawn(print, ())
    """
    assert scan_one(tmp_path, source) == [
        thread("threading.Thread", 5),
        thread("threading.Thread", 6),
        thread("concurrent.futures.ThreadPoolExecutor", 7),
        thread("multiprocessing.pool.ThreadPool", 8),
        thread("_thread.start_new_thread", 11, scope="function"),
    ]


def test_scan_files_tells_import_time_code_from_function_code(tmp_path: Path) -> None:
    source = """\
        import threading
        if True:
            try:
                with open(__file__):
                    for _ in range(1):
                        threading.Thread()
            except OSError:
                pass
        workers = [threading.Thread() for _ in range(2)]
        def start(timer=threading.Timer(1, print)):
            threading.Thread()
        later = lambda: threading.Thread()
        class Agent:
            ticker = threading.Timer(1, print)
            def run(self):
                threading.Thread()
        def factory():
            class Local:
                thread = threading.Thread()
    """
    assert scan_one(tmp_path, source) == [
        thread("threading.Thread", 6),
        thread("threading.Thread", 9),
        thread("threading.Timer", 10),  # a default value is evaluated when the def runs, on import
        thread("threading.Thread", 11, scope="function"),
        thread("threading.Thread", 12, scope="function"),
        thread("threading.Timer", 14, scope="class"),
        thread("threading.Thread", 16, scope="function"),
        thread("threading.Thread", 19, scope="function"),  # a class body inside a function runs with it
    ]


def test_scan_files_names_modules_and_files_relative_to_root(tmp_path: Path) -> None:
    source = "import threading\n\nthreading.Thread()\n"
    files = [
        write(tmp_path, "pkg/__init__.py", source),
        write(tmp_path, "pkg/sub/mod.py", source),
        write(tmp_path, "single.py", source),
        write(tmp_path, "pkg-1.0.data/scripts/tool.py", source),
    ]
    assert scan_files(files, root=tmp_path) == [
        RuntimeThread(call="threading.Thread", scope="module", module="pkg", file="pkg/__init__.py", line=3),
        RuntimeThread(call="threading.Thread", scope="module", module="pkg.sub.mod", file="pkg/sub/mod.py", line=3),
        RuntimeThread(call="threading.Thread", scope="module", module="single", file="single.py", line=3),
        RuntimeThread(
            call="threading.Thread", scope="module", module=None, file="pkg-1.0.data/scripts/tool.py", line=3
        ),
    ]


def test_scan_files_reports_the_line_where_a_call_starts(tmp_path: Path) -> None:
    source = """\
        import threading


        thread = threading.Thread(
            target=print,
            daemon=True,
        )
    """
    assert scan_one(tmp_path, source) == [thread("threading.Thread", 4)]


def test_scan_files_ignores_names_in_docstrings_comments_and_strings(tmp_path: Path) -> None:
    source = '''\
        """Calls threading.Thread(target=work) and os.fork() in the docs."""
        import threading
        # threading.Thread(target=work).start()
        EXAMPLE = "threading.Thread(target=work); os.register_at_fork(before=f)"
        NOTE = f"{EXAMPLE} uses _thread.start_new_thread()"
        THREAD_CLASS = threading.Thread  # a reference, not a call
        def documented():
            """Starts a concurrent.futures.ThreadPoolExecutor() lazily."""
    '''
    assert scan_one(tmp_path, source) == []


def test_scan_files_ignores_unrelated_thread_names(tmp_path: Path) -> None:
    source = """\
        import mylib
        from .compat import Thread as CompatThread
        class Thread:
            pass
        Thread()
        mylib.Thread()
        CompatThread()
        def run(self):
            self.Thread()
            UndefinedThread()
        class threading:  # shadows the module: threading.Thread below is this class's
            Thread = staticmethod(print)
        threading.Thread()
    """
    assert scan_one(tmp_path, source) == []


def test_scan_files_finds_instances_of_local_thread_subclasses(tmp_path: Path) -> None:
    source = """\
        import threading
        class Worker(threading.Thread):
            pass
        class Poller(Worker):
            pass
        class Plain:
            pass
        Worker()
        def start():
            Poller()
            Plain()
    """
    assert scan_one(tmp_path, source) == [
        thread("pkg.mod.Worker", 8),
        thread("pkg.mod.Poller", 10, scope="function"),
    ]


def test_scan_files_reports_atfork_handlers_with_their_hooks(tmp_path: Path) -> None:
    source = """\
        import os
        from os import register_at_fork as at_fork
        os.register_at_fork(after_in_child=print)
        at_fork(after_in_parent=print, before=print, after_in_child=print)
        os.register_at_fork(**{"before": print})
    """
    assert scan_one(tmp_path, source) == [
        AtforkHandler(module="pkg.mod", hooks=("after_in_child",), file="pkg/mod.py", line=3, static=True),
        AtforkHandler(
            module="pkg.mod",
            hooks=("before", "after_in_child", "after_in_parent"),
            file="pkg/mod.py",
            line=4,
            static=True,
        ),
        AtforkHandler(module="pkg.mod", hooks=(), file="pkg/mod.py", line=5, static=True),
    ]


def test_scan_files_reports_fork_calls(tmp_path: Path) -> None:
    source = """\
        import os
        import multiprocessing as mp
        from multiprocessing import get_context
        mp.set_start_method("spawn")
        CONTEXT = get_context("fork")
        def daemonize():
            if os.fork():
                return
            os.forkpty()
    """
    assert scan_one(tmp_path, source) == [
        ForkCall(call="multiprocessing.set_start_method", scope="module", module="pkg.mod", file="pkg/mod.py", line=4),
        ForkCall(call="multiprocessing.get_context", scope="module", module="pkg.mod", file="pkg/mod.py", line=5),
        ForkCall(call="os.fork", scope="function", module="pkg.mod", file="pkg/mod.py", line=7),
        ForkCall(call="os.forkpty", scope="function", module="pkg.mod", file="pkg/mod.py", line=9),
    ]


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param("import threading\nthreading.Thread(\n", id="syntax-error"),
        pytest.param(b"# -*- coding: no-such-codec -*-\nimport threading\n", id="unknown-codec"),
        pytest.param(b"import threading\nname = '\xff\xfe'\n", id="not-utf8"),
        pytest.param(b"import threading\x00\nthreading.Thread()\n", id="null-byte"),
        pytest.param("import threading\nthreading.Thread()\n" + "#" * static.MAX_FILE_BYTES, id="over-2mb"),
        # libcst's native parser crashes the process on these; CPython refuses them as too deeply nested.
        pytest.param("import threading\nx = " + "(" * 10_000 + ")" * 10_000 + "\n", id="nested-parentheses"),
        pytest.param("import threading\nx = " + "+".join(["a"] * 10_000) + "\n", id="long-expression"),
    ],
)
def test_scan_files_skips_unparsable_files(tmp_path: Path, broken: str | bytes) -> None:
    files = [
        write(tmp_path, "pkg/broken.py", broken),
        write(tmp_path, "pkg/mod.py", "import threading\nthreading.Thread()\n"),
    ]
    assert scan_files(files, root=tmp_path) == [thread("threading.Thread", 2)]


def test_scan_files_reads_syntax_newer_than_the_interpreter(tmp_path: Path) -> None:
    # PEP 695 and PEP 701 are syntax errors for Python 3.11's compiler but not for libcst.
    source = """\
        import threading
        def first[T](items: list[T]) -> T:
            return items[0]
        label = f"{"nested"} quotes"
        threading.Thread()
    """
    assert scan_one(tmp_path, source) == [thread("threading.Thread", 5)]


def test_scan_files_parses_only_files_that_import_a_watched_module(tmp_path: Path, libcst_reads: list[bytes]) -> None:
    files = [
        write(tmp_path, "pkg/plain.py", "import json\njson.dumps({})\n"),
        write(tmp_path, "pkg/mentions.py", '"""Not thread-safe; call before fork."""\nfrom mylib import Thread\n'),
        write(tmp_path, "pkg/os_only.py", "import os\nos.getpid()  # Thread\n"),
        write(tmp_path, "pkg/mod.py", "import threading\nthreading.Thread()\n"),
    ]
    assert scan_files(files, root=tmp_path) == [thread("threading.Thread", 2)]
    assert libcst_reads == [b"import threading\nthreading.Thread()\n"]


@pytest.mark.parametrize(
    ("source", "call", "line"),
    [
        ("import threading\n(threading.Thread)(target=print)\n", "threading.Thread", 2),
        ("import threading\nthreading.Thread \\\n  (target=print)\n", "threading.Thread", 2),
        ("import threading\nprint(threading.Thread  # why not\n  (target=print))\n", "threading.Thread", 2),
        ("from threading import (\n    Thread\n    as T,\n)\nT(target=print)\n", "threading.Thread", 5),
        (
            "import threading\ndef base(): return object\nclass W(base(), threading.Thread): pass\nW()\n",
            "pkg.mod.W",
            4,
        ),
    ],
)
def test_scan_files_finds_calls_in_unusual_spellings(tmp_path: Path, source: str, call: str, line: int) -> None:
    # The text filter in front of CPython's parser must let every call through that the parser would find.
    assert scan_one(tmp_path, source) == [thread(call, line)]


def test_scan_files_does_not_parse_a_file_that_imports_threading_only_for_its_locks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[bytes] = []
    real_compile = compile
    monkeypatch.setattr(
        prefilter,
        "compile",
        lambda text, *args, **kwargs: parsed.append(text) or real_compile(text, *args, **kwargs),
        raising=False,
    )
    files = [
        write(tmp_path, "pkg/locks.py", "import threading\n_lock = threading.RLock()  # not a Thread\n"),
        write(tmp_path, "pkg/mod.py", "import threading\nthreading.Thread()\n"),
    ]

    assert scan_files(files, root=tmp_path) == [thread("threading.Thread", 2)]
    assert b"RLock" not in b"".join(parsed)
    assert parsed  # the other file was parsed: the filter is what kept the first one out


def test_scan_files_gives_the_same_findings_in_parallel(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(static, "BATCH_FILES", 3)  # three batches over two workers
    monkeypatch.setattr(static, "WORKER_FILES", 1)  # workers even for this little work
    filler = "# filler\n"
    files = [
        write(tmp_path, f"pkg/mod{index}.py", f"import os, threading\n{filler * index}threading.Thread()\n")
        for index in range(6)
    ]
    files.append(write(tmp_path, "pkg/broken.py", "import threading\nthreading.Thread(\n"))
    files.append(write(tmp_path, "pkg/fork.py", "import os\nos.fork()\n"))
    expected = [
        RuntimeThread(
            call="threading.Thread", scope="module", module=f"pkg.mod{index}", file=f"pkg/mod{index}.py", line=2 + index
        )
        for index in range(6)
    ] + [ForkCall(call="os.fork", scope="module", module="pkg.fork", file="pkg/fork.py", line=2)]

    assert scan_files(files, root=tmp_path, jobs=1) == expected
    with caplog.at_level(logging.WARNING, logger="auditor.core.static"):
        assert scan_files(files, root=tmp_path, jobs=2) == expected
    assert caplog.text == ""  # the workers did the scan, not the in-process fallback


def test_scanner_scans_what_is_submitted_while_the_caller_goes_on(tmp_path: Path) -> None:
    first = [write(tmp_path, "a/mod.py", "import threading\nthreading.Thread()\n")]
    second = [write(tmp_path, "b/mod.py", "import os\n\nos.register_at_fork(before=print)\n")]

    with static.Scanner(2) as scanner:
        scans = [scanner.submit(files, root=tmp_path) for files in (first, second)]
        results = [scan.result() for scan in reversed(scans)]

    assert results == [
        [AtforkHandler(module="b.mod", hooks=("before",), file="b/mod.py", line=3, static=True)],
        [RuntimeThread(call="threading.Thread", scope="module", module="a.mod", file="a/mod.py", line=2)],
    ]


def test_scanner_without_workers_scans_in_the_calling_thread(tmp_path: Path) -> None:
    files = [write(tmp_path, "a/mod.py", "import threading\nthreading.Thread()\n")]

    with static.Scanner(0) as scanner:
        assert scanner._pool is None
        found = scanner.submit(files, root=tmp_path).result()

    assert found == [RuntimeThread(call="threading.Thread", scope="module", module="a.mod", file="a/mod.py", line=2)]


def test_scanner_refuses_a_negative_number_of_workers() -> None:
    with pytest.raises(ValueError, match="workers"):
        static.Scanner(-1)


@pytest.mark.parametrize(("cores", "workers"), [(1, 0), (2, 1), (3, 1), (4, 1), (8, 2), (64, 16)])
def test_an_audit_scans_in_one_process_per_four_cores(cores: int, workers: int) -> None:
    # The scan is a fifth of the probes' CPU: more processes would only take the probes' cores.
    assert static.scan_workers(cores) == workers


def worker_state() -> tuple[int, bool]:
    return os.getpid(), "libcst" in sys.modules


def test_scanner_starts_its_workers_at_once_with_libcst_imported() -> None:
    with static.Scanner(2) as scanner:
        pool = scanner._pool
        assert pool is not None
        assert len(pool._processes) == 2  # started before any file was submitted
        states = {pool.submit(worker_state).result(timeout=60) for _ in range(6)}

    assert all(imported for _, imported in states)
    assert os.getpid() not in {pid for pid, _ in states}


def test_scan_files_scans_in_process_when_workers_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A spawned worker re-runs the caller's __main__ first; one that cannot be found (python - < script, say) kills
    # every worker. The files must still be scanned, not reported clean.
    monkeypatch.setattr(static, "WORKER_FILES", 1)
    main = sys.modules["__main__"]
    monkeypatch.setattr(main, "__spec__", None, raising=False)
    monkeypatch.setattr(main, "__file__", str(tmp_path / "missing-main.py"), raising=False)
    files = [write(tmp_path, f"pkg/mod{index}.py", "import threading\nthreading.Thread()\n") for index in range(2)]

    with caplog.at_level(logging.WARNING, logger="auditor.core.static"):
        findings = scan_files(files, root=tmp_path, jobs=2)

    assert findings == [
        RuntimeThread(
            call="threading.Thread", scope="module", module=f"pkg.mod{index}", file=f"pkg/mod{index}.py", line=2
        )
        for index in range(2)
    ]
    assert "scanning" in caplog.text


def test_scan_files_rejects_files_outside_root(tmp_path: Path) -> None:
    outside = write(tmp_path, "elsewhere/mod.py", "import threading\nthreading.Thread()\n")
    with pytest.raises(ValueError):
        scan_files([outside], root=tmp_path / "site-packages")


def test_scan_files_rejects_fewer_than_one_job(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="jobs"):
        scan_files([], root=tmp_path, jobs=0)


def test_module_level_thread_modules_lists_modules_that_start_threads_on_import() -> None:
    findings = [
        RuntimeThread(call="threading.Thread", scope="module", module="a", file="a.py", line=1),
        RuntimeThread(call="threading.Timer", scope="class", module="b.agent", file="b/agent.py", line=1),
        RuntimeThread(call="threading.Thread", scope="function", module="c", file="c.py", line=1),
        RuntimeThread(call="threading.Thread", scope="module", module=None, file="tool-1.0.data/x.py", line=1),
        ForkCall(call="os.fork", scope="module", module="d", file="d.py", line=1),
        AtforkHandler(module="e", hooks=("before",), file="e.py", line=1, static=True),
        ImportFailure(module="f", reason="import-error", message="boom"),
    ]
    assert module_level_thread_modules(findings) == {"a", "b.agent"}


def test_scan_files_keeps_lines_and_encoding_when_it_scans_only_the_relevant_statements(tmp_path):
    # libcst sees only the imports and the statements that call a watched name; the rest is blanked, line for line.
    source = (
        "# -*- coding: latin-1 -*-\n"
        '"""Docstring with \xe9."""\n'
        "import threading\n"
        "def unrelated():\n" + "    x = 1\n" * 200 + "class Worker(threading.Thread):\n"
        "    pass\n"
        "def start():\n"
        "    Worker().start()\n"
        "    threading.Timer(1, print)  # caf\xe9, in the file's own encoding\n"
    ).encode("latin-1")

    findings = scan_files([write(tmp_path, "pkg/mod.py", source)], root=tmp_path)

    assert [(f.call, f.line, f.scope) for f in findings] == [
        ("pkg.mod.Worker", 208, "function"),
        ("threading.Timer", 209, "function"),
    ]


def test_scan_files_shows_libcst_only_the_methods_that_matter_and_keeps_their_line_numbers(
    tmp_path: Path, libcst_reads: list[bytes]
) -> None:
    source = """\
        import os; VERSION = 1
        from threading import Thread as T
        CONSTANT = {"a": 1}


        class Client:
            @property
            def unrelated(self):
                return "Thread" + "fork"

            def start(self):
                return T(target=print)

            class Inner:
                def unrelated(self):
                    pass

        def helper(items):
            if True:
                def nested():
                    return 1
            os.register_at_fork(after_in_child=print)
            for item in items:
                print(item)
            if not items:
                pass
            elif len(items) == 1:
                T()
            else:
                print()

        def local(flag):
            if flag:
                T = print  # so T is local to this function, not threading.s Thread
            T()
    """
    findings = scan_one(tmp_path, source)

    assert findings == [
        thread("threading.Thread", 12, scope="function"),
        AtforkHandler(module="pkg.mod", hooks=("after_in_child",), file="pkg/mod.py", line=22, static=True),
        thread("threading.Thread", 28, scope="function"),
    ]
    seen = libcst_reads[0].decode()
    assert "unrelated" not in seen and "nested" not in seen and "CONSTANT" not in seen and "print(item)" not in seen
    assert "import os; VERSION = 1" in seen  # a line shared with an import stays whole
    assert "\n\n\n" not in seen  # dropped, not blanked: libcst pays for empty lines too


@pytest.mark.parametrize(
    ("imports", "call"),
    [
        ("import os, \\\n    threading\n", "threading.Thread()"),
        ("from \\\n    threading import Thread\n", "Thread()"),
        ("if True: import threading\n", "threading.Thread()"),
        ("x = 1; import threading\n", "threading.Thread()"),
    ],
)
def test_scan_files_finds_imports_in_any_legal_spelling(tmp_path: Path, imports: str, call: str) -> None:
    # The text filter in front of CPython's parser must not drop a file that really imports a watched module.
    source = f"{imports}def go():\n    {call}\n"
    findings = scan_files([write(tmp_path, "pkg/mod.py", source)], root=tmp_path)
    assert [f.call for f in findings] == ["threading.Thread"]


def test_scan_files_keeps_every_statement_that_rebinds_an_imported_name(
    tmp_path: Path, libcst_reads: list[bytes]
) -> None:
    # Inside a function that matters, the statements that do not are left out; one that rebinds a name an import
    # bound decides what a call means, and stays.
    source = """\
        import threading

        def shadowed():
            settings = {"workers": 4}
            threading = None
            threading.Thread()

        def real():
            settings = {"workers": 4}
            try:
                pass
            except ImportError as threading:
                pass
            return threading.Thread()

        def started():
            settings = {
                "workers": 4,
            }
            count = 1; threading.Thread(name=str(count))
    """
    findings = scan_one(tmp_path, source)

    assert findings == [thread("threading.Thread", 20, scope="function")]
    seen = libcst_reads[0].decode()
    assert '"workers"' not in seen  # the statements that matter nothing are gone
    assert "count = 1; threading.Thread" in seen  # a line shared with a call that matters stays whole
    assert "threading = None" in seen and "except ImportError as threading:" in seen


def test_scan_files_shows_libcst_only_the_imports_that_a_watched_call_starts_from(
    tmp_path: Path, libcst_reads: list[bytes]
) -> None:
    # What `futures.ThreadPoolExecutor()` or `Worker()` means depends on the names it starts from and on the bases
    # of Worker: the imports that bind them stay, every other import goes (most of a module's first lines).
    source = """\
        import json
        from collections import (
            OrderedDict,
            defaultdict,
        )
        from concurrent import futures
        import threading as t
        from mylib import helpers
        if TYPE_CHECKING:
            from typing import Any

        class Worker(t.Thread):
            pass

        def go():
            helpers.run(json.dumps(OrderedDict()))
            return futures.ThreadPoolExecutor(), Worker()
    """
    findings = scan_one(tmp_path, source)

    assert findings == [
        thread("concurrent.futures.ThreadPoolExecutor", 17, scope="function"),
        thread("pkg.mod.Worker", 17, scope="function"),
    ]
    seen = libcst_reads[0].decode()
    assert "from concurrent import futures" in seen and "import threading as t" in seen
    assert "json" not in seen and "OrderedDict" not in seen and "helpers" not in seen and "typing" not in seen


@pytest.mark.parametrize(
    "source",
    [
        # A star import and a `global` can rebind anything: they stay.
        "from threading import *\nimport threading\ndef reset():\n    global threading\n    threading = None\n"
        "    threading.Thread()\nThread(target=print)\nthreading.Timer(1, print)\n",
        # A subclass of a local Thread subclass, whose base's module name is rebound in the class body, beside
        # unrelated decorated code.
        "import threading as t\nimport json\nclass Base(t.Thread):\n    t = None\n    data = json.dumps({})\n"
        "@json.loads\ndef helper():\n    pass\nclass Worker(Base):\n    pass\ndef go():\n    Worker().start()\n",
        # A name bound by a loop, a `with`, a walrus, an except clause and a del.
        "import threading\nfrom os import fork\ndef a(xs):\n    for threading in xs:\n        pass\n"
        "    threading.Thread()\ndef b(cm):\n    with cm as fork:\n        fork()\ndef c():\n"
        "    if (Thread := threading.Thread):\n        Thread()\ndef d():\n    del threading\n"
        "    threading.Timer(1, print)\n",
    ],
)
def test_scan_files_finds_in_the_excerpt_what_libcst_finds_in_the_whole_file(tmp_path: Path, source: str) -> None:
    path = write(tmp_path, "pkg/mod.py", source)
    excerpt = prefilter.worth_parsing(path.read_bytes())
    assert excerpt is not None and excerpt.lines is not None  # an excerpt, not the whole file
    whole = libcst_pass.findings_in(static._source_file(path, tmp_path), static.Excerpt(path.read_bytes()))

    assert whole and scan_files([path], root=tmp_path) == whole


def test_scan_files_leaves_out_the_comments_among_the_statements_it_leaves_out(
    tmp_path: Path, libcst_reads: list[bytes]
) -> None:
    source = """\
        import threading

        def go(items):
            # Count them first.
            count = len(items)

            # Why the thread: a long comment
            # over several lines.
            total = sum(items)
            threading.Thread(target=print, args=(count, total))
            # A comment after the call.
            return total
    """
    findings = scan_one(tmp_path, source)

    assert findings == [thread("threading.Thread", 10, scope="function")]
    seen = libcst_reads[0].decode()
    assert "Why the thread" not in seen and "sum(items)" not in seen
    assert "Count them first" in seen  # before the block's first statement: kept, harmless


def test_scan_files_starts_no_worker_for_a_few_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A worker that could not even start would be logged (see above); none is started for two files.
    main = sys.modules["__main__"]
    files = [write(tmp_path, f"pkg/mod{index}.py", "import threading\nthreading.Thread()\n") for index in range(2)]

    with caplog.at_level(logging.WARNING, logger="auditor.core.static"), pytest.MonkeyPatch.context() as patch:
        patch.setattr(main, "__spec__", None, raising=False)
        patch.setattr(main, "__file__", str(tmp_path / "missing-main.py"), raising=False)
        findings = scan_files(files, root=tmp_path, jobs=2)

    assert [f.module for f in findings] == ["pkg.mod0", "pkg.mod1"]
    assert caplog.text == ""


def test_libcst_visitor_methods_found_once_per_class_are_the_ones_libcst_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from libcst.metadata import ExpressionContextProvider, ScopeProvider

    for provider in (ScopeProvider(), ExpressionContextProvider(), ScopeProvider()):
        found = libcst_pass._cached_get_visitors(provider)
        assert found and found == libcst_pass._get_visitors(provider)  # bound to this very instance
    source = (
        "import threading as t, os\nclass Base(t.Thread):\n    pass\nclass Worker(Base):\n    pass\n"
        "def go(xs):\n    for x in xs:\n        Worker().start()\n    [t.Timer(1, print) for _ in xs]\n"
        "    lambda: os.fork()\nos.register_at_fork(before=print)\n"
    )
    path = write(tmp_path, "pkg/mod.py", source)

    def scan() -> list[Finding]:
        return libcst_pass.findings_in(static._source_file(path, tmp_path), static.Excerpt(path.read_bytes()))

    cached = scan()
    monkeypatch.setattr(libcst.BatchableCSTVisitor, "get_visitors", libcst_pass._get_visitors)
    assert len(cached) == 4
    assert scan() == cached


def test_the_scan_modules_import_each_other_without_a_circle() -> None:
    # What each module of the package imports from the package, read from its source (lazy imports included):
    # the names are a leaf, the two passes know only them, and only the libcst pass imports libcst.
    package = Path(static.__file__).parent
    imports: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imports[path.stem] = imported

    assert imports.keys() == {"__init__", "names", "prefilter", "libcst_pass"}
    siblings = {
        stem: {name.rpartition(".")[2] for name in names if name.startswith("auditor.core.static.")}
        for stem, names in imports.items()
    }
    assert siblings == {
        "names": set(),
        "prefilter": {"names"},
        "libcst_pass": {"names"},
        "__init__": {"names", "prefilter", "libcst_pass"},
    }
    assert not any("auditor.core.static" in names for names in imports.values())  # nor the package from inside
    assert [stem for stem, names in imports.items() if any(n.partition(".")[0] == "libcst" for n in names)] == [
        "libcst_pass"
    ]
