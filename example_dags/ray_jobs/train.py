"""A tiny "training" script run by example_emr_ray_local_code.py from this folder.

It is the job's working directory: the submit operator zips this folder on the worker, uploads
it through Ray's Jobs API of the cluster, and Ray runs ``python train.py`` inside it. Standard
library only, so it runs on any Ray image (and in the local emulator). ``--fail`` makes it
exit with an error, to see the log tail in the task log.
"""

import argparse
import os
import sys

import helpers

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--fail", action="store_true")
args = parser.parse_args()

print(f"training for {args.epochs} epochs (submission {os.environ.get('RAY_JOB_SUBMISSION_ID', '?')})", flush=True)
for epoch in range(1, args.epochs + 1):
    print(f"epoch {epoch}/{args.epochs}: loss={helpers.loss(epoch):.4f}", flush=True)
if args.fail:
    print("giving up: --fail was given", file=sys.stderr, flush=True)
    sys.exit(3)
print("training done", flush=True)
