"""forkaudit's probe bootstrap: the first code that runs inside the audited interpreter.

Started as `python -I -S -B bootstrap.py fd=N pidns=0|1 budget=S settle=S own=A.pth/B.pth -- +top.level -sub.module
...` in a fresh, sandboxed interpreter of the audit environment. Standard library only, and it knows nothing of the
service: it installs its instruments, enables `site` itself (so that even code run by `.pth` files is watched), imports
the requested modules one by one (`+` marks a top-level module, which the time budget never skips), waits briefly,
and writes what it saw as JSON lines to file descriptor N (never stdout, which the package may flood):

    {"event": "begin", "module": M}          before each import (so a crash can be pinned on M)
    {"event": "module", "module": M, ...}     after each import: status, seconds, error
    {"event": "settle"}                       before the wait, if something started (the caller may use the core)
    {"event": "done", ...}                    everything it saw, and what is still alive (and, with `fork=S`,
                                              what one fork then did: the fork trial)

then waits to be killed: forkaudit counts the interpreter's threads from outside first (what the package may have
done to this report cannot hide a thread from that count).

Only the probed distribution's own `.pth` files (`own=`) run their `import` lines, and no `sitecustomize` runs: the
start-up code of another distribution of the environment must not run in this probe, where it could rewrite what is
reported about this one. Other `.pth` files still add their directories to `sys.path`.

Instruments: `threading.Thread.start` and `_thread.start_new_thread` are wrapped (stack at creation, so a thread that
starts and ends during the import is still seen); the loaders' `create_module`/`exec_module` are wrapped on their
classes (so import hooks installed by packages keep working) to sample the OS threads in `/proc/self/task` and, in a
private PID namespace, the last PID handed out, around each module's own loading; `os.register_at_fork` is wrapped;
an audit hook records processes spawned and sockets opened.

It writes its JSON itself and reads its command line without `json`: that module imports `re` and `enum`, which cost
most small packages' probes more than their own import (bench/README.md, finding 21).
"""

import os
import sys
import threading
import time

_thread = sys.modules.get("_thread") or __import__("_thread")
_signal = sys.modules.get("_signal") or __import__("_signal")

MAX_FRAMES = 40
MAX_TEXT = 500

_out_fd = -1
_pidns = False
# Types in comments, which the audited interpreter never sees: an annotation would be evaluated as this module runs.
# The stack of the module loads in progress (main thread).
_loads = []  # type: list[dict[str, object]]
_importing = [None]  # the requested module being imported (what an application's import statement names)
_python_threads = []  # type: list[dict[str, object]]
_python_tids = set()  # type: set[int]
# Threads that appeared in /proc/self/task while a module loaded, without Python knowing.
_native_threads = []  # type: list[dict[str, object]]
_transient_native = []  # type: list[dict[str, object]]
_spawns = []  # type: list[dict[str, object]]
_sockets = {}  # type: dict[int, dict[str, object]]
_atfork = []  # type: list[dict[str, object]]
# The files modules were loaded from (whose distributions the import really ran).
_loaded = set()  # type: set[str]
_counts = {"python": 0, "spawn": 0}


def _emit(event):
    # Lone surrogates (undecodable file names) become JSON escapes; every other character goes out as UTF-8.
    data = (_json(event) + "\n").encode("utf-8", "backslashreplace")
    view = memoryview(data)
    while view:
        written = os.write(_out_fd, view)
        view = view[written:]


_ESCAPES = {**{code: f"\\u{code:04x}" for code in range(32)}, ord('"'): '\\"', ord("\\"): "\\\\"}


def _json(value):
    """`value` as JSON, any object not JSON's own as its `str` (what `json.dumps(value, default=str)` gives, but
    with every control character escaped, so a package's text can never break a line). The base types' own methods
    are called, whatever a subclass overrides."""
    if isinstance(value, str):
        return '"' + str.translate(value, _ESCAPES) + '"'
    if value is None or value is True or value is False:
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value) if value - value == 0 else "null"  # no inf or nan in JSON
    if isinstance(value, dict):
        return "{" + ",".join(_json(str(key)) + ":" + _json(item) for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join([_json(item) for item in value]) + "]"
    return _json(str(value))


def _short(text):
    text = str(text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def _stack(frame):
    frames = []
    while frame is not None and len(frames) < MAX_FRAMES:
        code = frame.f_code
        if code.co_filename != __file__:
            frames.append([code.co_filename, frame.f_lineno or 0, code.co_name])
        frame = frame.f_back
    return frames  # innermost first


def _current_module():
    return _loads[-1]["module"] if _loads else None


def _current_origin():
    return _loads[-1]["origin"] if _loads else None


def _task_ids():
    try:
        return {int(tid) for tid in os.listdir("/proc/self/task")}
    except OSError:
        return set()


def _thread_name(tid):
    try:
        with open(f"/proc/self/task/{tid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return None


def _last_pid():
    if not _pidns:
        return None
    try:
        with open("/proc/sys/kernel/ns_last_pid") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


# --- Python threads -------------------------------------------------------------------------------------------

_original_thread_start = threading.Thread.start
_original_start_new_thread = _thread.start_new_thread


def _thread_start(self):
    record = {
        "api": "threading",
        # The base class's properties, not what a subclass may have made of them.
        "name": _short(threading.Thread.name.fget(self)),
        "daemon": bool(threading.Thread.daemon.fget(self)),
        "module": _current_module(),
        "importing": _importing[0],
        "origin": _current_origin(),
        "stack": _stack(sys._getframe(1)),
        "thread": self,
    }
    _original_thread_start(self)
    _counts["python"] += 1
    record["native_id"] = threading.Thread.native_id.fget(self)
    _python_tids.add(record["native_id"])
    _python_threads.append(record)


def _start_new_thread(function, args, kwargs=None):
    started = threading.Event()
    record = {
        "api": "_thread",
        "name": _short(getattr(function, "__qualname__", None) or repr(function)),
        "daemon": True,  # _thread threads never block interpreter exit
        "module": _current_module(),
        "importing": _importing[0],
        "origin": _current_origin(),
        "stack": _stack(sys._getframe(1)),
        "finished": False,
        "native_id": None,
    }

    def run(*a, **kw):
        record["native_id"] = threading.get_native_id()
        _python_tids.add(record["native_id"])
        started.set()
        try:
            return function(*a, **kw)
        finally:
            record["finished"] = True

    ident = _original_start_new_thread(run, args, kwargs or {})
    _counts["python"] += 1
    _python_threads.append(record)
    # Wait until it knows its native id, as Thread.start does, so the native-thread accounting can tell it apart.
    started.wait(1.0)
    return ident


# --- module loading: native threads ---------------------------------------------------------------------------


def _tracked(module, origin, call, *args):
    """Run `call(*args)` as the loading of `module` (from file `origin`), measuring the threads it creates."""
    load = {
        "module": module,
        "origin": origin,
        "tids": _task_ids(),
        "last_pid": _last_pid(),
        "python": _counts["python"],
        "spawn": _counts["spawn"],
        "child_tids": set(),
        "child_pids": 0,
        "child_python": 0,
        "child_spawn": 0,
    }
    _loads.append(load)
    if isinstance(origin, str):
        _loaded.add(origin)
    try:
        return call(*args)
    finally:
        _loads.pop()
        try:
            _account(load)
        except Exception:  # the measurement must never break an import
            pass


def _measured(original):
    """Wrap a loader's create_module(spec) or exec_module(module)."""

    def wrapper(self, arg):
        name = getattr(arg, "__name__", None) or getattr(arg, "name", None)
        origin = getattr(arg, "__file__", None) or getattr(arg, "origin", None)
        return _tracked(name, origin, original, self, arg)

    wrapper.__wrapped__ = original
    return wrapper


def _measured_pth(original, own):
    """Code in a `.pth` file runs while `site` reads it: blame what it starts on the `.pth` file. Only the `own`
    files run code; of the others, only the directories they name are added."""

    def wrapper(sitedir, name, known_paths):
        if name in own:
            return _tracked(None, os.path.join(sitedir, name), original, sitedir, name, known_paths)
        return _pth_paths(sitedir, name, known_paths)

    return wrapper


def _pth_paths(sitedir, name, known_paths):
    """What `site.addpackage` does with a `.pth` file, without executing its `import` lines."""
    try:
        with open(os.path.join(sitedir, name), encoding="utf-8", errors="replace") as f:
            lines = f.read(1 << 20).splitlines()
    except OSError:
        return known_paths
    for line in lines:
        if not line or line.startswith(("#", "import ", "import\t")) or not line.strip():
            continue
        directory = os.path.abspath(os.path.join(sitedir, line.rstrip()))
        if directory not in known_paths and os.path.exists(directory):
            sys.path.append(directory)
            known_paths.add(directory)
    return known_paths


def _account(load):
    """Blame the threads that appeared during this load, minus those of nested loads, on this module."""
    tids = _task_ids()
    new_tids = tids - load["tids"]
    last_pid = _last_pid()
    pid_delta = last_pid - load["last_pid"] if last_pid is not None and load["last_pid"] is not None else None
    python = _counts["python"] - load["python"]
    spawn = _counts["spawn"] - load["spawn"]
    own_tids = new_tids - load["child_tids"] - _python_tids
    for tid in sorted(own_tids):
        _native_threads.append(
            {
                "tid": tid,
                "name": _thread_name(tid),
                "module": load["module"],
                "origin": load["origin"],
                "importing": _importing[0],
            }
        )
    if pid_delta is not None and spawn - load["child_spawn"] == 0:
        # In a private PID namespace every thread and process takes the next PID, so PIDs used minus the threads
        # and processes accounted for are native threads that started and ended while this module loaded.
        own_pids = pid_delta - load["child_pids"]
        transient = own_pids - (python - load["child_python"]) - len(own_tids)
        if transient > 0:
            _transient_native.append(
                {"module": load["module"], "origin": load["origin"], "importing": _importing[0], "count": transient}
            )
    if _loads:
        parent = _loads[-1]
        parent["child_tids"] |= new_tids
        parent["child_pids"] += pid_delta or 0
        parent["child_python"] += python
        parent["child_spawn"] += spawn


def _instrument_loaders():
    from importlib import _bootstrap_external as external

    external._LoaderBasics.exec_module = _measured(external._LoaderBasics.exec_module)
    external.ExtensionFileLoader.create_module = _measured(external.ExtensionFileLoader.create_module)
    external.ExtensionFileLoader.exec_module = _measured(external.ExtensionFileLoader.exec_module)
    try:
        import zipimport

        zipimport.zipimporter.exec_module = _measured(zipimport.zipimporter.exec_module)
    except (ImportError, AttributeError):
        pass


# --- processes, sockets, at-fork handlers ---------------------------------------------------------------------

_SPAWN_EVENTS = {"subprocess.Popen", "os.system", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.exec"}
_SOCKET_EVENTS = {"socket.__new__", "socket.connect", "socket.bind"}


def _audit(event, args):
    if event not in _SPAWN_EVENTS and event not in _SOCKET_EVENTS:
        return
    try:
        if event in _SPAWN_EVENTS:
            _counts["spawn"] += 1
            command = args[1] if event in ("subprocess.Popen", "os.posix_spawn", "os.exec") else args
            if event == "os.spawn":
                command = args[2]
            if isinstance(command, (list, tuple)):
                command = " ".join(os.fsdecode(c) if isinstance(c, bytes) else str(c) for c in command)
            _spawns.append(
                {
                    "event": event,
                    "command": _short(command),
                    "module": _current_module(),
                    "importing": _importing[0],
                    "origin": _current_origin(),
                    "stack": _stack(sys._getframe(1)),
                }
            )
        elif event == "socket.__new__":
            sock = args[0]
            _sockets[id(sock)] = {
                "socket": sock,
                "family": _family_name(args[1]),
                "address": None,
                "module": _current_module(),
                "importing": _importing[0],
                "origin": _current_origin(),
                "stack": _stack(sys._getframe(1)),
            }
        else:
            record = _sockets.get(id(args[0]))
            if record is not None and record["address"] is None:
                record["address"] = _short(args[1])
    except Exception:
        pass


def _family_name(family):
    try:
        return sys.modules["socket"].AddressFamily(family).name
    except Exception:
        return str(family)


_original_register_at_fork = os.register_at_fork


def _register_at_fork(**hooks):
    _atfork.append(
        {
            "hooks": sorted(k for k, v in hooks.items() if v is not None),
            "module": _current_module(),
            "importing": _importing[0],
            "origin": _current_origin(),
            "stack": _stack(sys._getframe(1)),
        }
    )
    return _original_register_at_fork(**hooks)


def _set_subreaper():
    # Orphans of the package's detached children become ours, so we can see and end them. Only without a PID
    # namespace of the probe's own (which shows them all): ctypes costs each start (bench/README.md, finding 32).
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def _descendants():
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            parents[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    if _pidns:
        # The PID namespace is the probe's own: every process in it but ours and our ancestors (bwrap's init) was
        # started by the package, orphans of its detached children included.
        ours, pid = set(), os.getpid()
        while pid not in ours:
            ours.add(pid)
            pid = parents.get(pid, pid)
        found = sorted(p for p in parents if p not in ours)
    else:
        # Orphans of the package's children became ours (the subreaper): our descendants are all of them.
        found, frontier = [], [os.getpid()]
        while frontier:
            pid = frontier.pop()
            children = [p for p, parent in parents.items() if parent == pid]
            found.extend(children)
            frontier.extend(children)
    result = []
    for pid in found:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            command = ""
        result.append({"pid": pid, "command": _short(command)})
    return result


def _is_open(sock):
    try:
        return sock.fileno() != -1
    except Exception:
        return False


# --- the probe ------------------------------------------------------------------------------------------------


def _import(name):
    import importlib

    started = time.perf_counter()
    status, error = "ok", None
    try:
        importlib.import_module(name)
    except MemoryError as exc:
        status, error = "memory", _short(f"MemoryError: {exc}")
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: the import failed, the probe goes on
        status, error = "import-error", _short(f"{type(exc).__name__}: {exc}")
    return status, error, time.perf_counter() - started


def _broken_package(name, broken):
    """The package whose failed import importing `name` would only run again, to fail the same way at its full cost
    each time (each of Django's GIS modules looks for GDAL with ldconfig, gcc and ld again); None if there is none.

    `broken` holds the packages that failed twice with the same error: a first failure can be one that a second
    import survives (a circular import that the order of imports decides). Python imports only the ancestors missing
    from sys.modules, from the parent up: one that a failed import left behind (a package's submodule imported before
    the package failed) stops the chain, and `name` may then import fine."""
    package = name.rpartition(".")[0]
    while package and package not in sys.modules:
        if package in broken:
            return package
        package = package.rpartition(".")[0]
    return None


def _report():
    tids = _task_ids()
    python_threads = []
    for record in _python_threads:
        # Alive is what /proc says, not what the thread object says (a subclass may lie in is_alive()).
        thread = record.pop("thread", None)
        finished = record.pop("finished", False)
        if thread is not None:
            try:
                record["name"] = _short(threading.Thread.name.fget(thread))
            except Exception:
                pass
        alive = not finished and record["native_id"] in tids
        python_threads.append(dict(record, alive=alive))
    native = []
    for record in _native_threads:
        alive = record["tid"] in tids
        native.append(
            dict(record, alive=alive, name=(_thread_name(record["tid"]) if alive else None) or record["name"])
        )
    sockets = []
    for record in _sockets.values():
        sock = record.pop("socket")
        sockets.append(dict(record, open=_is_open(sock)))
    return {
        "event": "done",
        "python": ".".join(map(str, sys.version_info[:3])),
        "threads": python_threads,
        "native_threads": native,
        "transient_native": _transient_native,
        "spawns": _spawns,
        "processes": _descendants(),
        "sockets": sockets,
        "atfork": _atfork,
        "loaded": sorted(_loaded),
    }


DJANGO_APPS = (
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
)


def _configure_django(apps):
    """A minimal Django project with `apps` installed, set up as an application's start-up does: for plug-ins
    that need their framework configured to be imported at all. A failure is left to the imports to report."""
    try:
        from django.conf import settings

        settings.configure(
            INSTALLED_APPS=[*DJANGO_APPS, *apps],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            SECRET_KEY="forkaudit-probe",
            USE_TZ=True,
            STATIC_URL="/static/",
            TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
        )
        import django

        django.setup()
    except BaseException:
        pass


# --- the fork trial -------------------------------------------------------------------------------------------


def _fork_trial(limit):
    """Fork once, as a server's pre-fork does after importing the application, and say what the fork did: which
    threads were gone in the parent when fork returned (stopped by their library's own at-fork handler, as
    OpenBLAS stops its pool), and whether the child ran a short smoke test (allocation, a thread, logging, an
    import: what a lock held across the fork would block) within `limit` seconds."""
    me = os.getpid()
    before = {tid: _thread_name(tid) for tid in _task_ids() if tid != me}
    read_end, write_end = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            outcome = _smoke_test()
        except BaseException as exc:
            outcome = _short(f"{type(exc).__name__}: {exc}")
        os.write(write_end, outcome.encode("utf-8", "backslashreplace")[:MAX_TEXT])
        os._exit(0)
    after = _task_ids()
    os.close(write_end)
    status = None
    while status is None and time.monotonic() - started < limit:
        waited, code = os.waitpid(pid, os.WNOHANG)
        if waited:
            status = code
        else:
            time.sleep(0.005)
    if status is None:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        child = "hung"
    else:
        with os.fdopen(read_end, "rb") as result:
            said = result.read(MAX_TEXT).decode("utf-8", "replace")
            read_end = None
        if os.WIFSIGNALED(status):
            child = f"crashed: killed by signal {os.WTERMSIG(status)}"
        elif said == "ok":
            child = "ok"
        else:
            child = f"failed: {said or f'exit status {os.waitstatus_to_exitcode(status)}'}"
    if read_end is not None:
        os.close(read_end)
    return {
        "before": [{"tid": tid, "name": name} for tid, name in sorted(before.items())],
        "stopped": sorted(set(before) - after),
        "child": child,
        "seconds": time.monotonic() - started,
    }


def _smoke_test():
    blocks = [bytearray(1 << 16) for _ in range(64)]  # the allocator's locks
    done = []
    worker = threading.Thread(target=done.append, args=(len(blocks),))
    worker.start()
    worker.join()
    import logging

    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 (the child exits at once)
    logger = logging.Logger("forkaudit.fork-trial")
    logger.addHandler(handler)
    logger.warning("the child of a fork logs")
    sys.modules.pop("colorsys", None)
    __import__("colorsys")  # the import lock
    return "ok" if done else "the thread started in the child did not run"


def main():
    global _out_fd, _pidns
    # The thread that started this interpreter may block SIGINT (forkaudit's threads do, so that a Ctrl-C reaches
    # its main thread), and exec keeps a signal mask: the package gets the empty one of an ordinary process.
    _signal.pthread_sigmask(_signal.SIG_SETMASK, ())
    split = sys.argv.index("--")
    options = dict(arg.split("=", 1) for arg in sys.argv[1:split])
    modules = [(arg[1:], arg[0] == "+") for arg in sys.argv[split + 1 :]]
    _out_fd = int(options["fd"])
    _pidns = options.get("pidns") == "1"
    budget = float(options["budget"]) if options.get("budget") else None
    sys.argv[:] = [sys.argv[0]]  # the package sees an ordinary command line

    threading.Thread.start = _thread_start
    _thread.start_new_thread = _thread.start_new = _start_new_thread
    os.register_at_fork = _register_at_fork
    sys.addaudithook(_audit)
    _instrument_loaders()
    if not _pidns:
        _set_subreaper()

    import site

    site.addpackage = _measured_pth(site.addpackage, set(filter(None, options.get("own", "").split("/"))))
    site.execsitecustomize = site.execusercustomize = lambda: None
    site.main()  # .pth files run here, watched
    if options.get("django"):
        _configure_django(options["django"].split(","))

    started = time.monotonic()
    errors = {}  # module -> the error its import raised
    broken = {}  # package -> its error, raised again by a submodule's import: it fails each time it is imported
    for name, top_level in modules:
        skipped = None
        package = None if top_level or name in sys.modules else _broken_package(name, broken)
        if not top_level and budget is not None and time.monotonic() - started > budget:
            skipped = "not imported: the distribution's time budget was spent"
        elif package is not None:
            skipped = f"not imported: its package {package} fails to import ({broken[package]})"
        if skipped:
            _emit({"event": "module", "module": name, "status": "skipped", "seconds": 0, "error": skipped})
            continue
        _emit({"event": "begin", "module": name})
        _importing[0] = name
        status, error, seconds = _import(name)
        _importing[0] = None
        _emit({"event": "module", "module": name, "status": status, "seconds": seconds, "error": error})
        if status == "import-error":
            errors[name] = error
            parent = name.rpartition(".")[0]
            if parent and errors.get(parent) == error:
                broken[parent] = error

    # Only a thread or a process can change what is alive (or open) while we wait; a socket alone cannot (urllib3
    # opens and closes one on import: requests, boto3 and the like would each wait for nothing).
    if _python_threads or _native_threads or _spawns:
        _emit({"event": "settle"})
        time.sleep(float(options.get("settle", 0.2)))
    report = _report()
    if options.get("fork"):
        report["fork"] = _fork_trial(float(options["fork"]))
    _emit(report)
    for process in report["processes"]:
        try:
            os.kill(process["pid"], 9)
        except OSError:
            pass
    while True:  # until forkaudit, having counted this interpreter's threads, kills it
        time.sleep(3600)


if __name__ == "__main__":
    main()
