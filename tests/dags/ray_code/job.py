"""The entrypoint of the Ray Jobs API scenarios (uploaded as the job's working_dir)."""

import os
import sys

import shared

print("ray-path-marker-7", shared.GREETING, flush=True)
print("submission", os.environ.get("RAY_JOB_SUBMISSION_ID"), flush=True)
if "--fail" in sys.argv:
    print("Traceback (most recent call last):", flush=True)
    print("ValueError: ray-boom-marker-99", file=sys.stderr, flush=True)
    sys.exit(3)
