"""Worker processes for the multi-process measures: start them, wait until each is ready, start them together."""
from __future__ import annotations

import subprocess
import sys

from bench.harness import ROOT


def run_workers(module: str, args: list[list[str]], env: dict[str, str], timeout: float) -> list[str]:
    """Run ``python -m module *args[i]`` for each i: each prints ``ready``, waits for ``go`` on stdin, works, then
    prints its figures. Returns every worker's output once all have finished (killed if they outlive ``timeout``)."""
    procs = [subprocess.Popen([sys.executable, "-m", module, *arg], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for arg in args]
    try:
        for proc in procs:
            line = proc.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"{module} did not start: {line}{proc.stdout.read()}")
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        return [proc.communicate(timeout=timeout)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
