"""Runs many `mu` command lines cheaply: imports the heavy libraries once, then runs each command line in a forked
child process exactly as the `mu` console script does (`sys.exit(main())`, Python printing an uncaught exception's
traceback), and records its exit code, stdout and stderr.

Usage: python -m tests.cli_runner CASES.json RESULTS.json, CASES being a list of argument lists."""

import json
import os
import sys
import tempfile
import traceback

import torch  # noqa: F401  (imported once here, not in every child)
import transformers  # noqa: F401

from mu.cli import main


def run_in_child(argv: list[str]) -> dict:
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        pid = os.fork()
        if pid == 0:
            os.dup2(stdout.fileno(), 1)
            os.dup2(stderr.fileno(), 2)
            sys.argv = ["mu", *argv]
            try:
                code = main(argv)
            except SystemExit as exit_:  # as the interpreter handles `sys.exit(...)`
                code = exit_.code if isinstance(exit_.code, int) or exit_.code is None else 1
                if not isinstance(exit_.code, int) and exit_.code is not None:
                    print(exit_.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code or 0)
        _, status = os.waitpid(pid, 0)
        stdout.seek(0)
        stderr.seek(0)
        return {
            "argv": argv,
            "returncode": os.waitstatus_to_exitcode(status),
            "stdout": stdout.read().decode(errors="replace"),
            "stderr": stderr.read().decode(errors="replace"),
        }


if __name__ == "__main__":
    cases_file, results_file = sys.argv[1:]
    cases = json.loads(open(cases_file).read())
    results = [run_in_child(argv) for argv in cases]
    with open(results_file, "w") as file:
        json.dump(results, file)
