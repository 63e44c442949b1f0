"""Which engine runs the checks: ``--engine local`` (this process) or ``--engine ray`` (Ray Data)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ConfigError

ENGINES = ("local", "ray")


@contextmanager
def engine_scope(name: str | None, address: str | None = None, gpus: float | None = None) -> Iterator[None]:
    """Run the audits and curates started inside on the engine ``name`` (``--engine``).

    ``address`` (``--ray-address``) joins a running Ray cluster and ``gpus`` (``--ray-gpus``) sets the
    GPUs per model task; they only mean something with ``ray``, and are refused otherwise rather than
    ignored (the run would silently stay local).
    Bad values are a :class:`ConfigError`, raised before any work is done.
    """
    engine = (name or "local").strip().lower()
    if engine not in ENGINES:
        raise ConfigError(f"--engine {name!r}: unknown engine; choose from {', '.join(ENGINES)}")
    if address is not None and not address.strip():
        raise ConfigError("--ray-address is empty; give HOST:PORT of a Ray cluster's head, or leave it out")
    if engine == "local":
        if address is not None:
            raise ConfigError("--ray-address needs --engine ray (the local engine does not use a cluster)")
        if gpus is not None:
            raise ConfigError("--ray-gpus needs --engine ray (the local engine uses --device)")
        yield
        return
    from . import ray as ray_engine

    ray_engine.check_gpus(gpus)  # a bad value is refused before Ray starts
    with ray_engine.use(address, gpus):
        yield
