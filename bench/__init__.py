"""livebell's benchmark harness: livebell vs the Channels tutorial design vs a raw server.

Run ``python -m bench`` (or ``make bench``) from the repository root, or
``python -m bench --quick`` (``make bench-quick``) for the CI smoke run. Every
server, agent and Redis it needs is started by the run and stopped at its end;
``docs/benchmarks.md`` describes the method and the results.
"""
