"""A no-op entry point that does not import mlflow (importing it costs seconds): prints to both streams and
exits with the code it is given."""

import sys

print(f"quick job on {sys.executable}")
print("quick warning", file=sys.stderr)
if int(sys.argv[1]):
    raise SystemExit(f"crashing on purpose with {sys.argv[1]}")
