"""Where the tasks run: :class:`Ray` (a local Ray or a cluster; imported only here, lazily) or
:class:`Serial` (one after another in this process); :func:`drive` runs a list of tasks on one,
at most its slots at a time, and :class:`Progress` is the progress line."""

import os
import time

from ..errors import UsageError

__all__ = ["Progress", "Serial", "Ray", "Crash", "drive", "RAY_MISSING", "quiet"]

#: The one line said when Ray is needed and not installed.
RAY_MISSING = ("lwc sweep runs on Ray, which is not installed: pip install -e '.[sweep]' (or run "
               "the points one after another with --no-ray)")


def quiet(_line):
    pass


class Progress:
    """The progress line: points done (of which cached), running, failed, and the ETA."""

    def __init__(self, say, phase, total, cached=0):
        self.say, self.phase, self.total = say, phase, total
        self.cached, self.done, self.failed, self.running = cached, cached, 0, 0
        self.start = time.monotonic()
        self.last = None

    def update(self, *, done=0, failed=0):
        """Count points finished (shown with the next :meth:`show`)."""
        self.done += done
        self.failed += failed

    def show(self):
        fresh = self.done - self.cached
        left = self.total - self.done
        if fresh and left:
            eta = _duration((time.monotonic() - self.start) / fresh * left)
        else:
            eta = "-" if left else "0s"
        width = 20
        filled = int(width * self.done / self.total) if self.total else width
        line = (f"{self.phase}: [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
                f" done ({self.cached} cached), {self.running} running, {self.failed} failed, "
                f"ETA {eta}")
        if line != self.last:
            self.last = line
            self.say(line)


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Crash:
    """The result of a task whose worker died: ``error`` is one line saying how."""

    def __init__(self, error):
        self.error = error


class Call:
    """A task of the serial backend, run when waited for."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args


class Serial:
    """Runs each task here, one after another."""

    slots = 1

    def submit(self, fn, *args, gpu=False):
        return Call(fn, args)

    def wait(self, pending):
        call = pending[0]
        return call, call.fn(*call.args)

    def cancel(self, pending):
        pass

    def close(self):
        pass


class Ray:
    """Runs tasks on Ray: a local instance on this machine's cores, or the cluster at
    ``address``. Training tasks ask for a GPU where the cluster has one."""

    def __init__(self, address=None, num_cpus=None, cpus_per_task=1, say=print):
        try:
            import ray
        except ImportError:
            raise UsageError(RAY_MISSING) from None
        self.ray = ray
        self.owned = not ray.is_initialized()
        if self.owned:
            options = {"include_dashboard": False, "log_to_driver": False,
                       "configure_logging": False}
            if address is not None:
                ray.init(address=address, **options)
            else:
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **options)
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        self.cpus_per_task = cpus_per_task
        cpus = int(resources.get("CPU", 1))
        self.slots = max(1, cpus // cpus_per_task)
        say(f"ray: {cpus} CPUs, {self.gpus} GPUs; {self.slots} tasks at a time"
            + (", trainings on a GPU each" if self.gpus else ""))
        self.remote = {}

    def submit(self, fn, *args, gpu=False):
        if fn not in self.remote:
            self.remote[fn] = self.ray.remote(fn)
        options = {"num_cpus": self.cpus_per_task, "max_retries": 0}
        if gpu and self.gpus:
            options["num_gpus"] = 1
        return self.remote[fn].options(**options).remote(*args)

    def wait(self, pending):
        (ready,), _ = self.ray.wait(list(pending), num_returns=1)
        try:
            return ready, self.ray.get(ready)
        except self.ray.exceptions.RayError as exc:  # the worker died (out of memory, a crash)
            return ready, Crash(" ".join(f"{type(exc).__name__}: {exc}".split())[:300])

    def cancel(self, pending):
        for ref in pending:
            self.ray.cancel(ref, force=True)

    def close(self):
        if self.owned:
            self.ray.shutdown()


def drive(backend, jobs, on_done, progress):
    """Run ``jobs`` (``(key, fn, args, gpu)``) on ``backend``, at most its slots at a time;
    ``on_done(key, result)`` as each finishes; ``progress`` (a :class:`Progress`) is shown each
    time the tasks in flight change. On Ctrl-C the tasks in flight are cancelled."""
    queue = list(jobs)
    pending = {}
    try:
        while queue or pending:
            while queue and len(pending) < backend.slots:
                key, fn, args, gpu = queue.pop(0)
                pending[backend.submit(fn, *args, gpu=gpu)] = key
            progress.running = len(pending)
            progress.show()
            handle, result = backend.wait(list(pending))
            key = pending.pop(handle)
            on_done(key, result)
        progress.running = 0
        progress.show()
    except BaseException:
        backend.cancel(list(pending))
        raise
