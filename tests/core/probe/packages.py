"""The tiny packages the probe tests install: each a few lines of Python that do one thing on import."""

from __future__ import annotations

# pthread_create through ctypes, with a C function of libc as the thread's body: a native thread that Python's
# threading never hears of. `sleep(arg)` lives long, `usleep(arg)` ends at once.
NATIVE_THREAD = """
import ctypes, os
libc = ctypes.CDLL(None)
pthread = ctypes.c_ulong()

def start(function_name, argument, name):
    body = ctypes.cast(getattr(libc, function_name), ctypes.c_void_p)
    libc.pthread_create(ctypes.byref(pthread), None, body, ctypes.c_void_p(argument))
    libc.pthread_setname_np(pthread, name)
    return pthread
"""

PACKAGES: dict[str, dict] = {
    "fa-respawn": {
        "files": {
            # A helper that runs a program and then fails, as Django's GIS modules do without GDAL: every module
            # that imports it runs it again.
            "fa_respawn/__init__.py": "",
            "fa_respawn/_lib.py": """
                import subprocess
                subprocess.run(["/bin/true"])
                raise ImportError("the native library is missing")
            """,
            "fa_respawn/a.py": "from fa_respawn import _lib\n",
            "fa_respawn/b.py": "from fa_respawn import _lib\n",
            "fa_respawn/c.py": "from fa_respawn import _lib\n",
        }
    },
    "fa-ipv6-check": {
        "files": {
            # What urllib3 does on import: open a socket to see whether the host has IPv6, and close it.
            "fa_ipv6_check/__init__.py": """
                import socket
                socket.socket(socket.AF_INET6).close()
            """
        }
    },
    "fa-daemon": {
        "files": {
            "fa_daemon/__init__.py": """
                import threading, time
                FLUSHER = threading.Thread(target=time.sleep, args=(60,), name="fa-flusher", daemon=True)
                FLUSHER.start()
            """
        }
    },
    "fa-called": {
        # The thread starts in a function of fa_called.pool, which fa_called.boot's body calls: importing
        # fa_called.pool alone starts nothing.
        "files": {
            "fa_called/__init__.py": "",
            "fa_called/boot.py": "from fa_called.pool import start\n\nstart()\n",
            "fa_called/pool.py": """
                import threading, time

                def start():
                    threading.Thread(target=time.sleep, args=(60,), name="fa-called-pool").start()
            """,
        }
    },
    "fa-sub": {
        "files": {
            "fa_sub/__init__.py": "",
            "fa_sub/worker.py": """
                import threading, time
                threading.Thread(target=time.sleep, args=(60,), name="fa-sub-worker").start()
            """,
            "fa_sub/_private.py": "import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\n",
            "fa_sub/tests/__init__.py": "raise RuntimeError('tests are not imported')\n",
        }
    },
    "fa-native": {
        "files": {
            "fa_native/__init__.py": NATIVE_THREAD
            + """
if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
    start("sleep", 60, b"fa-native")
"""
        }
    },
    "fa-transient": {
        "files": {
            "fa_transient/__init__.py": NATIVE_THREAD
            + """
import threading
t = threading.Thread(target=lambda: None, name="fa-short")
t.start()
t.join()
libc.pthread_join(start("usleep", 1000, b"fa-short-native"), None)
"""
        }
    },
    "fa-runtime": {
        "files": {
            "fa_runtime/__init__.py": """
                import threading

                def start_background():
                    threading.Thread(target=print).start()
            """
        }
    },
    "fa-user": {
        "requires": ["fa-daemon"],
        "files": {"fa_user/__init__.py": "import fa_daemon\nVALUE = 1\n"},
    },
    "fa-caller": {
        "requires": ["fa-runtime"],
        "files": {"fa_caller/__init__.py": "import fa_runtime\nfa_runtime.start_background()\n"},
    },
    "Multi-Top": {
        "files": {
            "mt_one.py": "ONE = 1\n",
            "mt_two/__init__.py": "TWO = 2\n",
            "mt_two/helpers.py": "HELP = True\n",
        }
    },
    "fa-atfork": {
        "files": {
            "fa_atfork/__init__.py": """
                import os

                def _reset():
                    pass

                os.register_at_fork(after_in_child=_reset)
            """
        }
    },
    # An APM-style import hook that wraps the loaders of its own modules: it must keep working, and the probe must
    # still measure the modules it loads.
    "fa-hook": {
        "files": {
            "fa_hook/__init__.py": """
                import importlib.abc, importlib.machinery, sys, threading, time
                SEEN = []

                class Loader(importlib.abc.Loader):
                    def __init__(self, wrapped):
                        self.wrapped = wrapped

                    def create_module(self, spec):
                        return self.wrapped.create_module(spec)

                    def exec_module(self, module):
                        SEEN.append(module.__name__)
                        return self.wrapped.exec_module(module)

                class Finder(importlib.abc.MetaPathFinder):
                    def find_spec(self, name, path, target=None):
                        if not name.startswith("fa_hook."):
                            return None
                        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
                        if spec is not None:
                            spec.loader = Loader(spec.loader)
                        return spec

                sys.meta_path.insert(0, Finder())
                from fa_hook import _inner
                threading.Thread(target=time.sleep, args=(30,), name="seen:" + ",".join(SEEN), daemon=True).start()
            """,
            "fa_hook/_inner.py": NATIVE_THREAD + '\nstart("sleep", 60, b"fa-hooked")\n',
        }
    },
    "fa-stdlib": {"files": {"fa_stdlib/__init__.py": "import random, tempfile\nVALUE = random.random()\n"}},
    # --- hostile ---
    "fa-loop": {"files": {"fa_loop/__init__.py": "while True:\n    pass\n"}},
    "fa-sigterm": {
        "files": {
            "fa_sigterm/__init__.py": """
                import signal, time
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                while True:
                    time.sleep(1)
            """
        }
    },
    "fa-exit": {"files": {"fa_exit/__init__.py": "import os\nos._exit(3)\n"}},
    "fa-segv": {"files": {"fa_segv/__init__.py": "import ctypes\nctypes.string_at(0)\n"}},
    "fa-memhog": {
        "files": {
            "fa_memhog/__init__.py": """
                hog = []
                while True:
                    hog.append(bytearray(256 * 2**20))
            """
        }
    },
    "fa-flood": {
        "files": {
            "fa_flood/__init__.py": """
                import sys
                chunk = "x" * 2**20
                for _ in range(64):
                    sys.stdout.write(chunk)
                    sys.stderr.write(chunk)
                sys.stdout.flush()
            """
        }
    },
    "fa-partial": {
        "files": {
            "fa_partial/__init__.py": "",
            "fa_partial/hang.py": "while True:\n    pass\n",
            "fa_partial/zthread.py": """
                import threading, time
                threading.Thread(target=time.sleep, args=(60,), name="fa-after-hang", daemon=True).start()
            """,
        }
    },
}
