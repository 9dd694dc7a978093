"""Where the tracks are explained: in this process (``local``) or on Ray actors (``ray``).

Both engines map the same per-track function (:func:`.worker.explain_track`) over the jobs and
yield each :class:`.worker.TrackOutcome` as it ends. On Ray, each worker is an actor holding one
loaded pipeline (rebuilt from ``Pipeline.recipe()``) that explains one track at a time; a track
goes to whichever actor is free. An actor whose process dies is restarted by Ray and its track
retried (``MAX_RESTARTS``, ``MAX_TASK_RETRIES``); when Ray gives up, the track is recorded as
failed, a fresh actor takes the dead one's place, and the run goes on.
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from pathlib import Path
from typing import Any, Generator, Iterator, Sequence

from ..errors import StemlimeError, UsageError
from ..request import ExplainRequest
from ..validators import one_of, whole_number
from .worker import FAILED, TrackJob, TrackOutcome, TrackWorker, explain_track

ENGINES = ("local", "ray")
MAX_RESTARTS = 3  # per actor: Ray starts a crashed worker process again this often
MAX_TASK_RETRIES = 2  # a track whose worker died is tried again this often on the restarted worker
MAX_REPLACEMENTS = 3  # fresh actors per worker slot once Ray has given one up
WAIT_SECONDS = 1.0  # the driver wakes up this often (Ctrl-C is seen within it)
DEVICE_KINDS = ("tagger", "separator")


def check_engine(engine: str, workers: int | None, address: str | None) -> None:
    one_of(engine, "engine", ENGINES, flag="--engine")
    if workers is not None:
        whole_number(workers, "workers", minimum=1, flag="--workers")
    if engine == "local" and workers not in (None, 1):
        raise UsageError(
            f"the local engine explains in this process, one track at a time; for {workers} workers "
            "use the Ray engine (--engine ray, engine='ray')"
        )
    if engine == "local" and address is not None:
        raise UsageError("an address names a Ray cluster: give it with the Ray engine (--engine ray --address ...)")
    if engine == "ray" and address is not None:
        check_reachable(address)  # before any model loads: seconds, not the minutes Ray retries for


def run_local(pipeline: Any, jobs: Sequence[TrackJob]) -> Generator[TrackOutcome, None, None]:
    """Explain the jobs one after the other in this process."""
    for job in jobs:
        yield explain_track(pipeline, job)


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError("the Ray engine needs Ray: pip install 'stemlime[ray]' (make install includes it)") from None
    return ray


def connect(address: str | None) -> bool:
    """Join the Ray cluster at ``address`` (``auto``: the one ``ray start`` started on this machine,
    or ``$RAY_ADDRESS``; ``ray://HOST:PORT``; ``HOST:PORT``), or start a new local cluster when
    ``address`` is None, unless Ray is already initialized in this process (then that is used).
    True when this call initialized Ray (the caller shuts it down)."""
    import logging

    ray = import_ray()
    if ray.is_initialized():
        return False
    if address is not None:
        check_reachable(address)
    # Ray's start-up note on its token authentication (a default it chose, nothing the user can act on here)
    quiet = logging.getLogger("ray._private.authentication.authentication_token_setup")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    except ConnectionError as error:
        raise UsageError(
            f"cannot join the Ray cluster at {address}: {error}. Start one with 'ray start --head' on the "
            "head machine, or leave out --address to start a local cluster"
        ) from None
    finally:
        quiet.setLevel(level)
    return True


CONNECT_SECONDS = 5.0  # how long a cluster's address may take to answer before the run is refused
RAY_CURRENT_CLUSTER = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"  # where `ray start` notes its address


def cluster_address(address: str) -> tuple[str, str]:
    """(HOST:PORT, where it came from) for a Ray address: ``auto`` is ``$RAY_ADDRESS`` or what
    ``ray start`` noted on this machine (as Ray resolves it); ``ray://HOST:PORT`` its HOST:PORT."""
    if address == "auto":
        if os.environ.get("RAY_ADDRESS"):
            return cluster_address(os.environ["RAY_ADDRESS"])[0], "$RAY_ADDRESS"
        if RAY_CURRENT_CLUSTER.is_file():
            return RAY_CURRENT_CLUSTER.read_text().strip(), f"{RAY_CURRENT_CLUSTER}, noted by the last 'ray start' here"
        raise UsageError(
            "--address auto finds no Ray cluster on this machine (no 'ray start' ran here and $RAY_ADDRESS is "
            "not set); start one with 'ray start --head', or leave out --address to start a local cluster"
        )
    return address.removeprefix("ray://"), "--address"


def check_reachable(address: str, seconds: float = CONNECT_SECONDS) -> None:
    """Refuse, within ``seconds``, a cluster address that nothing answers at (Ray itself retries
    for minutes, e.g. at the stale address an earlier local cluster left noted)."""
    import socket

    where, source = cluster_address(address)
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"the Ray address {where} (from {source}) is not HOST:PORT; give --address auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=seconds).close()
    except OSError as error:
        raise UsageError(
            f"no Ray cluster answers at {where} (from {source}) within {seconds:.0f} s: "
            f"{error.strerror or error}. Start one with 'ray start --head' (on the head machine), or leave "
            "out --address to start a local cluster for this run"
        ) from None


def _device(pipeline: Any, kind: str) -> str | None:
    """The ``device`` option a tagger or separator spec runs with (None: the factory has none, or a ready object)."""
    spec = pipeline.given_spec(kind)
    if spec is None:
        return None
    factory, _, options = pipeline.registry.resolve(kind, spec)
    option = factory.option("device")
    return None if option is None else str(options.get("device", option.default))


def gpus_per_worker(pipeline: Any, workers: int, cluster_gpus: float) -> float:
    """GPUs each actor asks Ray for: a share of the cluster's GPUs when the tagger or separator
    runs on CUDA (``device=cuda``, or ``auto`` on a cluster that has GPUs), else 0. At most one
    per actor; several actors share a GPU when there are more actors than GPUs."""
    devices = [_device(pipeline, kind) for kind in DEVICE_KINDS]
    if "cuda" in devices and cluster_gpus <= 0:
        raise UsageError(
            "the pipeline asks for device=cuda, but the Ray cluster has no GPU; use device=auto or device=cpu, "
            "or join a cluster with GPUs (--address)"
        )
    if cluster_gpus > 0 and ("cuda" in devices or "auto" in devices):
        return min(1.0, cluster_gpus / workers)
    return 0.0


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _worker_class(ray: Any, gpus: float) -> Any:
    # stemlime's own settings (STEMLIME_HOME, STEMLIME_CACHE_DIR, ...) travel to the workers: on a
    # cluster started with 'ray start', they would otherwise have that shell's environment
    settings = {name: value for name, value in os.environ.items() if name.startswith("STEMLIME_")}
    return ray.remote(TrackWorker).options(
        num_cpus=1, num_gpus=gpus, max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES, runtime_env={"env_vars": settings}
    )


def ray_recipe(pipeline: Any) -> dict[str, Any]:
    """The recipe Ray workers rebuild the pipeline from, refused with a UsageError when Ray is
    missing or a component is a Python object that cannot be pickled (checked before any work)."""
    ray = import_ray()
    recipe = pipeline.recipe()
    try:
        ray.cloudpickle.dumps(recipe)
    except Exception as error:
        raise UsageError(
            f"the pipeline cannot be sent to Ray workers: one of its components is a Python object that "
            f"cannot be pickled ({type(error).__name__}: {error}); give it as a spec instead, e.g. "
            "--tagger python,object=MODULE:ATTRIBUTE for your own model"
        ) from None
    return recipe


def run_ray(
    pipeline: Any,
    recipe: dict[str, Any],
    jobs: Sequence[TrackJob],
    request: ExplainRequest,
    *,
    address: str | None = None,
    workers: int | None = None,
) -> Generator[TrackOutcome, None, None]:
    """Explain the jobs on Ray actors built from ``recipe`` (:func:`ray_recipe`); yields outcomes
    in the order they end (see the module).

    Pipeline-wide problems (models that cannot be loaded, unknown labels) stop the run before any
    track, as a UsageError or StemlimeError. Leaving early (Ctrl-C, an error) kills the actors,
    and shuts Ray down when this call started it.
    """
    ray = import_ray()
    started = connect(address)
    actors: list[Any] = []
    try:
        resources = ray.cluster_resources()
        cpus = int(resources.get("CPU", 0))
        count = workers or max(1, min(cpus, len(jobs)))
        if count > cpus:
            raise UsageError(
                f"{count} workers were asked for, but the Ray cluster has {cpus} CPU(s) and each worker takes "
                f"one; give --workers {cpus} or fewer, or add machines to the cluster"
            )
        count = min(count, len(jobs))
        gpus = gpus_per_worker(pipeline, count, float(resources.get("GPU", 0)))
        worker_class = _worker_class(ray, gpus)
        cwd = os.getcwd()
        actors = [worker_class.remote(recipe, cwd) for _ in range(count)]
        try:
            problems = ray.get([actor.ready.remote(request) for actor in actors])
        except ray.exceptions.RayError as error:  # a worker process that died while it loaded the models
            raise StemlimeError(f"the Ray workers could not start: {_first_line(error)}") from None
        for problem in problems:
            if problem is not None:
                kind, message, usage = problem
                raise (UsageError if usage else StemlimeError)(f"the Ray workers cannot load the pipeline: {kind}: {message}")
        queue = deque(jobs)
        pending: dict[Any, tuple[int, TrackJob]] = {}
        replacements = [0] * count
        alive = [True] * count

        def submit(slot: int) -> None:
            job = queue.popleft()
            pending[actors[slot].explain.remote(job)] = (slot, job)

        for slot in range(count):
            if queue:
                submit(slot)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_SECONDS)
            for reference in ready:
                slot, job = pending.pop(reference)
                try:
                    outcome = ray.get(reference)
                except ray.exceptions.RayActorError as error:  # Ray's restarts and retries are spent
                    outcome = TrackOutcome(
                        job.track.name,
                        FAILED,
                        error="WorkerDied",
                        message=f"the Ray worker explaining this track died: {_first_line(error)}",
                    )
                    ray.kill(actors[slot], no_restart=True)
                    alive[slot] = replacements[slot] < MAX_REPLACEMENTS
                    if alive[slot]:
                        replacements[slot] += 1
                        actors[slot] = worker_class.remote(recipe, cwd)
                except ray.exceptions.RayError as error:
                    outcome = TrackOutcome(job.track.name, FAILED, error=type(error).__name__, message=_first_line(error))
                yield outcome
                if queue and alive[slot]:
                    submit(slot)
        while queue:  # every worker slot has given up
            job = queue.popleft()
            yield TrackOutcome(
                job.track.name, FAILED, error="WorkerDied", message="not explained: every Ray worker kept dying; see the other failures"
            )
    finally:
        for actor in actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:
                pass
        if started:
            ray.shutdown()
