"""What the worker loop knows about running a job: a dispatcher per backend.

`local` runs the entry point in a subprocess on the worker's machine; an `azureml` dispatcher would submit a
command job and follow it. Both hold the job through the same `Lease` (heartbeats, log shipping, cancel and loss
signals), so the queue, the API and the plugin stay the same whatever runs the code.
"""

from __future__ import annotations

from typing import Protocol

from server.jobspec.schemas import JobView
from server.worker.lease import Lease, Outcome


class Dispatcher(Protocol):
    backend: str  # the job `backend` this dispatcher claims

    def execute(self, job: JobView, lease: Lease) -> Outcome:
        """Run `job` to its end. Call `lease.start()` when user code starts; stop promptly when
        `lease.cancel_requested` (outcome `canceled`) or `lease.lost` (outcome `lost`, nothing is reported) is set.
        Anything worth reading goes to `lease.log`."""
        ...
