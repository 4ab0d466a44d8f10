"""HTTP plumbing every router shares, whatever surface it serves (MLflow's RPCs, the job API, the UI): what a
route may use (`context`) and how a stored file is sent (`downloads`). It imports down only, never from a router."""
