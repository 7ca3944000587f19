#!/usr/bin/env python
"""What the web process spends on one app read: ``GET /api/v1/app/users/{external_user_id}`` with app credentials,
served in process by the project's WSGI application (no HTTP server, no load generator) against PostgreSQL.

    python bench/app_read_profile.py [--requests 2000] [--warm 200] [--cprofile]
    valgrind --tool=callgrind --instr-atstart=no python bench/app_read_profile.py --callgrind --requests 200

Without options it prints the CPU time per request (min and median over five runs of ``--requests``). With
``--cprofile`` it prints the functions that took the most time. With ``--callgrind``, under valgrind as above, it
counts only the measured requests (it switches callgrind's instrumentation on and off around them with
``callgrind_control``): valgrind's ``Collected`` divided by ``--requests`` is the instructions per request, a
figure that does not move with the machine's load (docs/benchmarks.md lists what each speed-up buys in it).

Like ``make bench`` it needs PostgreSQL: BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/prostqs_bench) is dropped and recreated.
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PATH = "/api/v1/app/users/bench-user"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warm", type=int, default=200, help="requests served before measuring")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--callgrind", action="store_true")
    args = parser.parse_args()

    from bench import run as bench_run
    from bench.harness import Context

    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/prostqs_bench")
    bench_run._recreate_database(url)
    os.environ.update({"DATABASE_URL": url, "DEBUG": "false", "REDIS_URL": "", "SECURE_SSL_REDIRECT": "false",
                       "ALLOWED_HOSTS": "127.0.0.1,localhost",
                       "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-" + "k7Qx9vLm2pR4tY8wZ1bN6cF3hJ5dS0gA" * 2),
                       "SECRETS_MASTER_KEYS": os.environ.get("SECRETS_MASTER_KEYS",
                                                             "bench:YmVuY2gtb25seS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE=")})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prostqs.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, check=True)

    from django.db import connection

    from bench.identity import _app_read_setup
    from prostqs.wsgi import application  # loads the URL configuration and freezes, as gunicorn's workers do

    header = _app_read_setup(Context(database_url=url, seconds=0))["header"]
    connection.close()  # a web process starts without one
    statuses: list[str] = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    def request() -> None:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": PATH, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
                   "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1:8000", "HTTP_AUTHORIZATION": header,
                   "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
                   "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
                   "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False}
        response = application(environ, start_response)
        b"".join(response)
        response.close()

    for _ in range(args.warm):
        request()
    if set(statuses) != {"200 OK"}:
        raise SystemExit(f"the app read answered {sorted(set(statuses))}")

    if args.callgrind:
        control = ["callgrind_control", "--instr=on", str(os.getpid())]
        subprocess.run(control, check=True, capture_output=True)
        for _ in range(args.requests):
            request()
        subprocess.run([*control[:1], "--instr=off", str(os.getpid())], check=True, capture_output=True)
        print(f"{args.requests} requests measured: instructions per request = valgrind's Collected / {args.requests}")
    elif args.cprofile:
        import cProfile
        import pstats

        profile = cProfile.Profile(time.process_time)
        profile.runcall(lambda: [request() for _ in range(args.requests)])
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    else:
        runs = []
        for _ in range(5):
            start = time.process_time()
            for _ in range(args.requests):
                request()
            runs.append((time.process_time() - start) / args.requests * 1e6)
        runs.sort()
        print(f"app read: {runs[0]:.0f} us CPU per request (min), {runs[2]:.0f} (median) over 5 x {args.requests}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
