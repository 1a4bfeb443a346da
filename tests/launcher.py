"""A warm start for the suite's `python -m doit` and `python -m rra.cli` subprocesses.

Most of a small doit invocation's CPU is the interpreter importing doit, PyYAML and
requests (0.2 of 0.28 s for a no-op). This launcher imports them once; for each
invocation it forks a child that becomes what `python -m MODULE ARGS` would be: its own
arguments, environment, working directory and sys.path[0], stdin from /dev/null, stdout
and stderr into files (run) or onto the descriptors the client sent (start: a pipe to read
as it runs, and a session of its own where asked, for signals and kill -9 of its group),
SIGINT as a new interpreter has it, dodo.py and every rra module loaded anew (none is
imported here, so no state of a former run can leak in). The child is a real process
running the real doit engine; it only skips the imports.

What a fork cannot give falls back to a real interpreter (conftest.python_m and start_m
decide): a wrapper command (setpriv), a resource limit, or an environment that Python or
the loader reads at start (PYTHON*, LC_*, LANG, LD_*, TZ). RRA_TEST_COLD=1 sends every
invocation to a real interpreter.

    python tests/launcher.py SOCKET     serve until the client closes stdin (or dies)
"""

import atexit
import json
import os
import runpy
import signal
import socket
import sys
import threading

# What every invocation imports anyway and what holds no state of rra's: third-party only.
PRELOAD = (
    "doit",
    "doit.doit_cmd",
    "doit.cmd_run",
    "doit.runner",
    "doit.dependency",
    "doit.reporter",
    "yaml",
    "filelock",
    "sqlite3",
    "multiprocessing",
    "multiprocessing.pool",
    "requests",
    "urllib.request",
    "json",
    "hashlib",
    "tarfile",
    "gzip",
    "logging.handlers",
    "email.message",
    "smtplib",
    "click",
)


def serve(path):
    for name in PRELOAD:
        __import__(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)
    threading.Thread(target=_exit_with_the_client, daemon=True).start()
    while True:
        conn, _ = listener.accept()
        line, fds = _read_line(conn)
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            listener.close()
            _child(request, fds)  # never returns
        for fd in fds:
            os.close(fd)
        threading.Thread(target=_report, args=(pid, conn), daemon=True).start()


def _exit_with_the_client():
    """The client holds this process's stdin: once it is gone, even killed, stop serving.

    Read with os.read: a thread blocked in sys.stdin would hold its lock across every fork,
    and a child that touches sys.stdin (multiprocessing's workers close it) would hang."""
    while os.read(0, 1024):
        pass
    os._exit(0)


def _report(pid, conn):
    """Send the child's pid, then its exit status as subprocess gives it: the code, or -N if
    signal N ended it."""
    with conn:
        conn.sendall(b"%d\n" % pid)
        _, status = os.waitpid(pid, 0)
        conn.sendall(b"%d\n" % os.waitstatus_to_exitcode(status))


def _read_line(conn):
    """The request line, and the descriptors sent with it (stdout and stderr, or none)."""
    data, fds = b"", []
    while not data.endswith(b"\n"):
        chunk, more = socket.recv_fds(conn, 65536, 2)[:2]
        if not chunk:
            raise EOFError("client went away")
        data, fds = data + chunk, fds + more
    return data, fds


def _child(request, fds):
    """Become `python -m MODULE ARGS` in the request's directory and environment, then exit.

    stdout and stderr: the descriptors the client sent (fds), else the files it named."""
    code = 1
    try:
        if request.get("session"):
            os.setsid()  # as subprocess's start_new_session: its own process group
        signal.signal(signal.SIGINT, signal.default_int_handler)  # what a new interpreter has
        devnull = os.open(os.devnull, os.O_RDONLY)
        if fds:
            out, err = fds
        else:
            out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for fd, target in ((devnull, 0), (out, 1), (err, 2)):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = request["cwd"]  # as `python -m` sets it
        sys.argv = [sys.argv[0]] + request["args"]
        try:
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, (int, type(None))):
                sys.stderr.write("%s\n" % e.code)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()  # what the interpreter runs on its way out (doit's pool, logging)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


class Launcher:
    """The client side: start the server once, then run(module, args, env, cwd) -> (code, stdout, stderr)."""

    def __init__(self, directory):
        import subprocess

        self.path = os.path.join(str(directory), "launcher.sock")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), self.path],
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
            start_new_session=True,
        )
        if self.proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the doit launcher did not start")
        self.count = 0

    def run(self, module, args, env, cwd):
        self.count += 1
        base = "%s.%d" % (self.path, self.count)
        request = {
            "module": module,
            "args": list(args),
            "env": dict(env),
            "cwd": str(cwd),
            "stdout": base + ".out",
            "stderr": base + ".err",
        }
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(self.path)
            conn.sendall(json.dumps(request).encode() + b"\n")
            with conn.makefile("rb") as lines:
                answer = lines.readline() and lines.readline()  # the pid, then the exit status
        try:
            with open(request["stdout"]) as f:
                out = f.read()
            with open(request["stderr"]) as f:
                err = f.read()
        finally:
            for name in (request["stdout"], request["stderr"]):
                try:
                    os.unlink(name)
                except FileNotFoundError:
                    pass
        if not answer.strip():
            raise RuntimeError("the doit launcher went away")
        return int(answer), out, err

    def start(self, module, args, env, cwd, stdout, stderr, new_session=False):
        """`python -m MODULE ARGS` in the background, writing to the descriptors stdout and
        stderr (sent over the socket: pipes and open files alike) -> a Started process."""
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.path)
        request = {"module": module, "args": list(args), "env": dict(env), "cwd": str(cwd), "session": new_session}
        socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [stdout, stderr])
        return Started(conn)

    def close(self):
        """Stop the server; its socket and directory go too."""
        self.proc.kill()
        self.proc.wait()
        for remove, path in ((os.unlink, self.path), (os.rmdir, os.path.dirname(self.path))):
            try:
                remove(path)
            except OSError:
                pass


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    serve(sys.argv[1])


class Started:
    """A process the launcher started in the background, with what tests use of subprocess.Popen:
    pid, returncode, poll(), wait(timeout) and send_signal()."""

    def __init__(self, conn):
        self._conn, self._lines = conn, conn.makefile("rb")
        line = self._lines.readline()
        if not line.strip():
            raise RuntimeError("the doit launcher went away")
        self.pid, self.returncode = int(line), None
        self._done = threading.Event()
        threading.Thread(target=self._await_exit, daemon=True).start()

    def _await_exit(self):
        line = self._lines.readline()
        self.returncode = int(line) if line.strip() else -9  # the launcher itself was killed
        self._lines.close()
        self._conn.close()
        self._done.set()

    def poll(self):
        return self.returncode if self._done.is_set() else None

    def wait(self, timeout=None):
        import subprocess

        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired("python -m", timeout)
        return self.returncode

    def send_signal(self, signum):
        """As Popen's: nothing once the process has ended."""
        if not self._done.is_set():
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass
