"""A framework-free user scenario whose threads really run, for the thread-scaling tests.

Each step hashes a buffer ``rounds`` times, split over ``n`` pool threads that run at once (``hashlib`` releases the GIL on large
buffers, so the threads run in parallel). Variant ``obeys`` uses the requested thread count;
``ignores`` always uses one thread, like a framework that ignores the thread setting, so the busy-thread
check must report a mismatch for it. The work per step is large enough that the one-off spin of
OpenBLAS's server threads, started when the worker imports numpy with OPENBLAS_NUM_THREADS=n (tens
of ms of CPU, a real busy thread), stays under the busy threshold. The pool is created in ``build`` so its threads live through the
measured steps.
"""

import hashlib
from concurrent.futures import ThreadPoolExecutor

from profiler.core.scenario import Implementation, Scenario, Variant

SCENARIO = Scenario(
    name="thread_spinner",
    summary="n pool threads hashing a buffer per step",
    presets={"cpu": {"batch": 1, "mib": 4, "rounds": 16, "warmup": 1, "steps": 8, "trace_steps": 0}},
    implementations=(
        Implementation(
            "python",
            (Variant("obeys", "uses the requested thread count"), Variant("ignores", "always one thread")),
        ),
    ),
    modes=("infer",),
    default_mode="infer",
)


def _work(buf: bytes, rounds: int) -> str:
    h = hashlib.sha256()
    for _ in range(rounds):
        h.update(buf)
    return h.hexdigest()


class Spinner:
    def __init__(self, ctx):
        n = int(ctx.spec.threads or 1)
        self.n = n if ctx.spec.variant == "obeys" else 1
        self.pool = ThreadPoolExecutor(max_workers=self.n)
        self.buf = bytes(int(ctx.params["mib"]) * 2**20)
        self.rounds = int(ctx.params["rounds"])
        self.info = {"pool_threads": self.n}

    def step(self):
        # the same total work at every thread count (strong scaling), split as evenly as it goes
        share = [self.rounds // self.n + (1 if i < self.rounds % self.n else 0) for i in range(self.n)]
        for f in [self.pool.submit(_work, self.buf, r) for r in share]:
            f.result()

    def close(self):
        self.pool.shutdown()


def build(ctx):
    return Spinner(ctx)
