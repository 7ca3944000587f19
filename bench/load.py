"""HTTP load for the bench: gunicorn servers with one set of worker settings, driven by wrk on loopback."""
from __future__ import annotations

import atexit
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import HTTP_CONNECTIONS, HTTP_WORKERS, ROOT

_servers: list[subprocess.Popen] = []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(wsgi: str, env: dict[str, str] | None = None) -> str:
    """Start gunicorn on a free loopback port with the bench's worker settings; return its base URL."""
    port = _free_port()
    cmd = [sys.executable, "-m", "gunicorn", wsgi, "--bind", f"127.0.0.1:{port}", "--workers", str(HTTP_WORKERS),
           "--worker-class", "sync", "--log-level", "warning", "--keep-alive", "5"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})})
    _servers.append(proc)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn {wsgi} exited with {proc.returncode}") from None
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn {wsgi} did not start")


@atexit.register
def _stop_servers() -> None:
    for proc in _servers:
        proc.terminate()
    for proc in _servers:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
        path = shutil.which("wrk")
        if not path:
            subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
            path = shutil.which("wrk")
    if not path:
        raise RuntimeError("the bench needs wrk (Debian package 'wrk') on PATH")
    return path


def wrk(url: str, seconds: float, *, method: str = "GET", headers: dict[str, str] | None = None,
        body: str | None = None, lua: str | None = None) -> float:
    """Requests per second that completed with a 2xx status (non-2xx make the run fail)."""
    script = lua
    if script is None:
        lines = [f'wrk.method = "{method}"']
        for name, value in (headers or {}).items():
            lines.append(f'wrk.headers["{name}"] = "{value}"')
        if body is not None:
            lines.append("wrk.body = [[" + body + "]]")
        script = "\n".join(lines)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            [ensure_wrk(), "-t", "2", "-c", str(HTTP_CONNECTIONS), "-d", f"{max(1, int(seconds))}s",
             # A slow first request (a worker loading the URL configuration) is counted, not dropped at 2 s.
             "--timeout", "10s", "-s", fh.name, url], check=True, capture_output=True, text=True).stdout
    finally:
        Path(fh.name).unlink()
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise RuntimeError(f"{url}: {bad.group(1)} non-2xx responses under load\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
