"""What the job queue (`server.jobs`) and the worker (`server.worker`) share, and nothing else: the wire contract
of the jobs API (`schemas`) and how an MLflow Project is packed, unpacked and checked (`projects`)."""
