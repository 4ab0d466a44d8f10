"""Artifact proxy workload: a streamed upload and download, with the serving process's memory sampled meanwhile."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from bench import procfs
from bench.context import Context, Results
from bench.parallel import Budget

MIB = 1 << 20


def _chunks(count: int, chunk: bytes, budget: Budget) -> Iterator[bytes]:
    for _i in range(count):
        budget.check()
        yield chunk


def artifacts(ctx: Context) -> Results:
    """7. PUT then GET an `artifact_mib` MiB file through /api/2.0/mlflow-artifacts, in 1 MiB chunks."""
    sizes, budget = ctx.sizes, ctx.budget()
    pid = ctx.server.serving_pid or ctx.server.process.pid
    chunk = os.urandom(MIB)
    with ctx.api() as api:
        experiment_id = api.create_experiment(ctx.experiment_name("artifacts"))
        run_id = api.create_run(experiment_id)
        prefix = f"{experiment_id}/{run_id}/artifacts"
        api.put_artifact(f"{prefix}/warm.bin", _chunks(1, chunk, budget))  # warm-up
        api.get_artifact(f"{prefix}/warm.bin", MIB)
        time.sleep(0.5)
        idle_kib = procfs.rss_kib(pid) or 0
        path = f"{prefix}/blob.bin"
        with procfs.RssSampler(pid) as sampler:
            started = time.perf_counter()
            api.put_artifact(path, _chunks(sizes.artifact_mib, chunk, budget))
            upload_s = time.perf_counter() - started
            started = time.perf_counter()
            received = api.get_artifact(path, MIB)
            download_s = time.perf_counter() - started
    size = sizes.artifact_mib * MIB
    if received != size:
        raise RuntimeError(f"downloaded {received:,} bytes, expected {size:,}")
    ctx.notes.append(f"serving pid {pid}: idle RSS {idle_kib / 1024:,.0f} MiB, peak {sampler.peak_kib / 1024:,.0f} MiB")
    return {
        "upload": size / 1e6 / upload_s,
        "download": size / 1e6 / download_s,
        "rss": max(0, sampler.peak_kib - idle_kib) / 1024,
    }
