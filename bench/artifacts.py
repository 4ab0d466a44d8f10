"""Artifact transfer benchmark: Runyard next to `mlflow server` on the same destination (a local folder, and Azure
Blob Storage in a local Azurite), for each file size: upload and download MB/s through the proxy, and how much
the serving process's memory grew meanwhile.

    python -m bench.artifacts [--sizes 50,1024,2048] [--destinations local,azure] [--only runyard|mlflow]
                              [--via http|client]

`--via http` streams one PUT and one GET (the proxy's raw speed); `--via client` times the stock client's
`log_artifact` and `download_artifacts`, which switch to multipart uploads from 500 MB when the server offers them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from bench import procfs, report
from bench.client import Api
from bench.servers import MLFLOW, RUNYARD, ServerError, ServerSpec, launch
from bench.transfer import MIB

CONTAINER = "bench"


def _chunks(count: int, chunk: bytes) -> Iterator[bytes]:
    for _ in range(count):
        yield chunk


def _transfer(api: Api, pid: int, prefix: str, mib: int) -> dict[str, float]:
    chunk = os.urandom(MIB)
    path = f"{prefix}/blob-{mib}.bin"
    idle_kib = procfs.rss_kib(pid) or 0
    with procfs.RssSampler(pid) as sampler:
        started = time.perf_counter()
        api.put_artifact(path, _chunks(mib, chunk))
        upload_s = time.perf_counter() - started
        started = time.perf_counter()
        received = api.get_artifact(path, MIB)
        download_s = time.perf_counter() - started
    if received != mib * MIB:
        raise RuntimeError(f"downloaded {received:,} bytes, expected {mib * MIB:,}")
    return {
        "upload": mib * MIB / 1e6 / upload_s,
        "download": mib * MIB / 1e6 / download_s,
        "rss": max(0, sampler.peak_kib - idle_kib) / 1024,
    }


def _client_transfer(base_url: str, pid: int, workdir: Path, mib: int) -> dict[str, float]:
    import mlflow  # heavy, so imported only here

    source = workdir / f"upload-{mib}.bin"
    chunk = os.urandom(MIB)
    with source.open("wb") as out:
        for _ in range(mib):
            out.write(chunk)
    client = mlflow.MlflowClient(base_url)
    run_id = client.create_run(client.create_experiment(f"client-{time.time_ns()}")).info.run_id
    idle_kib = procfs.rss_kib(pid) or 0
    with procfs.RssSampler(pid) as sampler:
        started = time.perf_counter()
        client.log_artifact(run_id, str(source))
        upload_s = time.perf_counter() - started
        started = time.perf_counter()
        local = Path(client.download_artifacts(run_id, source.name, str(workdir / f"dl-{mib}")))
        download_s = time.perf_counter() - started
    received = local.stat().st_size
    source.unlink()
    local.unlink()
    if received != mib * MIB:
        raise RuntimeError(f"downloaded {received:,} bytes, expected {mib * MIB:,}")
    return {
        "upload": mib * MIB / 1e6 / upload_s,
        "download": mib * MIB / 1e6 / download_s,
        "rss": max(0, sampler.peak_kib - idle_kib) / 1024,
    }


def _measure(
    spec: ServerSpec, workdir: Path, destination: str, env: dict[str, str], sizes: list[int], via: str
) -> list[str]:
    server = launch(spec, workdir, destination=destination, env=env)
    try:
        server.wait_healthy()
        pid = server.serving_pid or server.process.pid
        lines = []
        with Api(server.base_url, timeout_s=1800) as api:
            run_id = api.create_run(api.create_experiment(f"transfer-{time.time_ns()}"))
            prefix = f"bench/{run_id}/artifacts"
            api.put_artifact(f"{prefix}/warm.bin", _chunks(1, os.urandom(MIB)))  # warm-up
            api.get_artifact(f"{prefix}/warm.bin", MIB)
            for mib in sizes:
                try:
                    if via == "client":
                        r = _client_transfer(server.base_url, pid, workdir, mib)
                    else:
                        r = _transfer(api, pid, prefix, mib)
                    cells = f"{r['upload']:>9,.0f} {r['download']:>9,.0f} {r['rss']:>9,.0f}"
                except Exception as exc:
                    cells = f"error: {type(exc).__name__}: {str(exc)[:120]}"
                lines.append(f"{spec.name:<14} {mib:>6,} MiB  {cells}")
                print(lines[-1], flush=True)
        return lines
    except ServerError as exc:
        return [f"{spec.name:<14} did not start: {exc}"]
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.artifacts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="50,1024", help="file sizes in MiB, comma-separated")
    parser.add_argument("--destinations", default="local,azure", help="local, azure or both")
    parser.add_argument("--only", choices=("runyard", "mlflow"), help="measure one side only")
    parser.add_argument("--via", choices=("http", "client"), default="http", help="raw HTTP or the stock client")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    specs = [spec for spec in (RUNYARD, MLFLOW) if args.only in (None, spec.key)]
    print(report.machine())
    print(report.load(), flush=True)
    print(f"via {args.via}", flush=True)
    table = [f"{'server':<14} {'size':>10}  {'up MB/s':>9} {'down MB/s':>9} {'+RSS MiB':>9}"]
    with tempfile.TemporaryDirectory(prefix="runyard-bench-artifacts-") as tmp, ExitStack() as services:
        for where in args.destinations.split(","):
            table.append(f"-- destination: {where}")
            print(table[-1], flush=True)
            for spec in specs:
                workdir = Path(tmp) / f"{where}-{spec.tag}"
                workdir.mkdir()
                env: dict[str, str] = {}
                destination = str(workdir / "artifacts")
                if where == "azure":
                    from azure.storage.blob import BlobServiceClient

                    from tests.support.processes import azurite  # the same launcher the test suite uses

                    connection_string = services.enter_context(azurite(workdir / "azurite"))
                    BlobServiceClient.from_connection_string(connection_string).create_container(CONTAINER)
                    env["AZURE_STORAGE_CONNECTION_STRING"] = connection_string
                    destination = f"wasbs://{CONTAINER}@devstoreaccount1.blob.core.windows.net/{spec.tag}"
                table += _measure(spec, workdir, destination, env, sizes, args.via)
    print(f"\n{report.load()} (after the run)")
    print("\n".join(table))
    print("MB = 10^6 bytes; +RSS = the serving process's peak resident memory above its idle level")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
