"""The job of the job-log scenarios (emr_ray_job_logs.py next to this folder): prints numbered lines.

``--count N --prefix P``: prints ``P i`` for i in 1..N (``--width W`` pads each line with
``.`` to W characters). ``--ack-dir D``: after each line, waits until the file ``D/ack-i``
exists (polled, at most ``ACK_WAIT`` seconds, then exits 3 "no ack"): the job only goes on once
the line was seen outside it. ``--open-missing F``: at the end, opens the missing file F (the
job fails with its traceback).
"""

import argparse
import os
import sys
import time

ACK_WAIT = 60.0

parser = argparse.ArgumentParser()
parser.add_argument("--count", type=int, default=10)
parser.add_argument("--prefix", default="line")
parser.add_argument("--width", type=int, default=0)
parser.add_argument("--ack-dir")
parser.add_argument("--open-missing")
args = parser.parse_args()

out = sys.stdout
for i in range(1, args.count + 1):
    line = f"{args.prefix} {i}"
    if len(line) < args.width:
        line = f"{line} " + "." * (args.width - len(line) - 1)
    out.write(line + "\n")
    if args.ack_dir:
        out.flush()
        ack = os.path.join(args.ack_dir, f"ack-{i}")
        deadline = time.monotonic() + ACK_WAIT
        while not os.path.exists(ack):
            if time.monotonic() > deadline:
                print(f"no ack for line {i}", flush=True)
                sys.exit(3)
            time.sleep(0.01)
out.flush()
if args.open_missing:
    with open(args.open_missing) as missing:  # fails: FileNotFoundError
        missing.read()
