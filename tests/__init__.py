"""The test suite. Importing it (pytest does, before any conftest) gives every test one thread.

The tests' models and fits are tiny and gain nothing from threads, and on a busy 2-core machine
torch's, OpenMP's and OpenBLAS's threads spin against each other: seed_demo's 32 analyses took
29 s with two threads and 2 s with one, the fusion test 10 s and 1 s. The libraries read these
variables once, when they load, so they are set here, before anything imports torch or numpy;
workers and commands the tests start inherit them. A value already set is kept.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
