"""The worker side of jobs: claims jobs from a Runyard server over HTTP, runs them (local subprocesses or Azure ML),
and reports back; plus the client, the CLI's submission and MLflow's `runyard` project backend plugin.

It talks to the server over its HTTP API only: nothing here imports the server's queue, services or store, so a
worker on another machine and the embedded one are the same program."""
