"""Benchmarks and the stack launcher: tools on top of the app, not part of it.

- ``python -m benchmarks`` (``benchmarks.engine``): the analysis engine against the hardware
  limit and a baseline, no Django needed; ``--end-to-end`` adds upload-to-finished through the
  real stack (``benchmarks.end_to_end``);
- ``python manage.py benchmark``: the same with the end-to-end part on by default;
- ``python -m benchmarks.stack``: the production-like stack (PostgreSQL, Redis, gunicorn, a Celery
  worker) around a command, used by the benchmark, ``scripts/loadtest_stack.sh`` and ``.ci/run``.
"""
