"""doit's runner, patched in two places: pinned to the doit releases pyproject.toml allows.

doit has no hook for an exit code per kind of failure (rra/exitcodes.py wraps
Runner._handle_task_error), for a gentle stop on a signal (rra/shutdown.py wraps
Runner.run_all and sets _stop_running, which run_tasks and MRunner.get_next_job read), nor
for running `-n 1` in its own process (rra/shutdown.py wraps Run._execute, whose signature
doit reads to pass the options).
Each patch lives in one module. This test pins the source of every doit method they wrap
or rely on, as it is in each allowed release (doit 0.36.0 and 0.37.0: the same); a doit
whose code differs fails here, naming the method, before a production cron tick would
exit with the wrong code. .ci/run also runs the signal and exit-code tests under 0.36.0.
"""

import hashlib
import inspect

import doit
from doit import cmd_run, runner

from rra import exitcodes, shutdown

# sha256 (first 16 hex digits) of inspect.getsource(...), identical in doit 0.36.0 and 0.37.0
PINNED = {
    "Runner.__init__": "6b10c122864b5df8",  # sets final_result, _stop_running
    "Runner._handle_task_error": "16cb95a813749054",  # wrapped by exitcodes
    "Runner.run_tasks": "58885a9a0e959938",  # reads _stop_running
    "Runner.finish": "b1f6bc680d71054b",  # returns final_result
    "Runner.run_all": "e2e888785a45f37b",  # wrapped by shutdown
    "MRunner.get_next_job": "a2f9bb633decbe4a",  # reads _stop_running (doit -n N)
    "MRunner.run_tasks": "3021eddf5d73870c",
    "Run._execute": "bdc8794780d16746",  # wrapped by shutdown; picks the runner class
}


def source_hash(name):
    cls, method = name.split(".")
    owner = getattr(cmd_run if cls == "Run" else runner, cls)
    return hashlib.sha256(inspect.getsource(owner.__dict__[method]).encode()).hexdigest()[:16]


def test_the_doit_code_the_patches_wrap_is_the_code_they_were_tested_against():
    changed = [name for name, digest in PINNED.items() if source_hash(name) != digest]
    assert not changed, (
        "doit %s changed %s: check rra/exitcodes.py and rra/shutdown.py against it, "
        "run tests/test_operations.py, then update PINNED" % (".".join(map(str, doit.__version__)), ", ".join(changed))
    )


def test_each_patch_is_installed_in_one_place_and_every_runner_inherits_it():
    exitcodes.install()
    shutdown.install()
    try:
        for cls in (runner.Runner, runner.MRunner, runner.MThreadRunner):
            assert cls._handle_task_error is exitcodes._handle
            assert cls.run_all is shutdown._run_all_gently
        assert cmd_run.Run._execute is shutdown._execute_one_here
        assert inspect.signature(cmd_run.Run._execute) == inspect.signature(shutdown._execute)
    finally:  # this test process is not an archiver: doit's own code and signal handling back
        import signal

        runner.Runner._handle_task_error = exitcodes._handle_task_error
        runner.Runner.run_all = shutdown._run_all
        cmd_run.Run._execute = shutdown._execute
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)  # its signals no longer counted by rra's thread, nor its forks' either
