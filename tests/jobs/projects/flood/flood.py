"""Prints `kib` KiB of numbered lines, fast, to show what happens to a log that outgrows its budget."""

import sys

line = "x" * 1000
for n in range(int(sys.argv[1])):
    print(f"{n:06d} {line[:1016]}")
print("flood done")
