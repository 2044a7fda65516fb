"""Ray on EMR Serverless Spark with TaskFlow: a hyper-parameter sweep with ``@task.emr_ray``.

create_cluster (setup) -> train[alpha=0.01] -> choose_best -> delete_cluster (teardown)
                          train[alpha=0.1]
                          train[alpha=1.0]  ...

* ``create_cluster`` makes a cluster for this run; ``delete_cluster`` deletes it at the end
  (a teardown: also when a training job fails).
* ``train`` is a plain Python function run as a Ray job on that cluster, once per value of the
  ``alpha`` (``.expand``: one mapped task, one job each). Its source travels to the
  cluster through Ray's Jobs API (a generated ``working_dir``); its arguments and its return
  value are JSON. It is never run on the Airflow worker. What it prints is in each mapped
  task's log (``[ray]`` lines); its return value is the task's ``return_value`` XCom.
* ``deferrable=True``: each mapped task waits for its job in the triggerer, not in a worker slot.
  A retry reattaches to the job of the earlier try instead of submitting a second one.
* ``choose_best`` receives the list of every mapped result and picks the best score.

The function is written for a real cluster (``ray.remote`` over the folds, when it runs as a
Ray job's driver) and runs the folds in one process elsewhere (the project's emulator runs jobs
as plain Python processes), so that the same DAG runs offline against the emulator.

Connection: ``emr_ray_conn_id="emr_ray_default"`` (AccessKey pair, ``region_id``,
``workspace_id``; extra ``ray_jobs_endpoint="internal"`` when the workers run in the cluster's VPC).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_emr_ray.operators.emr_ray import EmrRayClusterCreateOperator, EmrRayClusterDeleteOperator

RELEASE = "ray-1.0.0 (Ray 2.47.1, Python 3.12)"
HEAD_SPEC = {"cpu": 2, "memory": "8Gi"}
WORKER_SPEC = [{"group_name": "cpu", "worker_type": "CPU", "replica": 1, "cpu": 2, "memory": "8Gi"}]

with DAG(
    dag_id="example_emr_ray_taskflow",
    schedule=None,  # run it by hand
    catchup=False,
    tags=["example", "emr_ray"],
    doc_md=__doc__,
) as dag:
    create_cluster = EmrRayClusterCreateOperator(
        task_id="create_cluster",
        name="airflow-example-ray-taskflow",
        display_release_version=RELEASE,
        head_spec=HEAD_SPEC,
        worker_spec=WORKER_SPEC,
        delete_on_error=True,
        poll_interval=10,
        max_wait=timedelta(minutes=20),
    )

    @task.emr_ray(
        cluster_id=create_cluster.output,  # the clusterId XCom; also sets the dependency
        runtime_env={"env_vars": {"PYTHONUNBUFFERED": "1"}},
        entrypoint_num_cpus=1,
        deferrable=True,  # wait in the triggerer
        poll_interval=10,
        max_wait=timedelta(hours=1),
    )
    def train(alpha: float, folds: int = 4, *, samples: int = 400, seed: int = 7) -> dict:
        """Ridge regression on synthetic data, scored by k-fold cross-validation (mean R^2)."""
        import os
        import random
        import statistics

        ray = None
        if os.environ.get("RAY_ADDRESS"):  # set for a Ray job's driver: use the cluster's workers
            import ray

        rng = random.Random(seed)
        xs = [rng.uniform(-3, 3) for _ in range(samples)]
        data = [(x, 2.5 * x - 1.0 + rng.gauss(0, 1.5)) for x in xs]

        def fold_score(train_rows: list, test_rows: list, alpha: float) -> float:
            n = len(train_rows)
            mx = sum(x for x, _ in train_rows) / n
            my = sum(y for _, y in train_rows) / n
            sxy = sum((x - mx) * (y - my) for x, y in train_rows)
            sxx = sum((x - mx) ** 2 for x, _ in train_rows)
            slope = sxy / (sxx + alpha * n)
            intercept = my - slope * mx
            ty = [y for _, y in test_rows]
            mean = sum(ty) / len(ty)
            ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in test_rows)
            ss_tot = sum((y - mean) ** 2 for y in ty)
            return 1 - ss_res / ss_tot

        splits = []
        for k in range(folds):
            test_rows = data[k::folds]
            train_rows = [row for i, row in enumerate(data) if i % folds != k]
            splits.append((train_rows, test_rows))

        if ray is not None:
            ray.init()
            remote = ray.remote(fold_score)
            scores = ray.get([remote.remote(tr, te, alpha) for tr, te in splits])
        else:
            scores = [fold_score(tr, te, alpha) for tr, te in splits]
        for k, score in enumerate(scores, 1):
            print(f"alpha={alpha} fold {k}/{folds}: R^2={score:.4f}")
        return {"alpha": alpha, "score": round(statistics.mean(scores), 6), "folds": folds}

    scores = train.partial(folds=4).expand(alpha=[0.01, 0.1, 1.0, 10.0])

    @task
    def choose_best(results: list[dict]) -> dict:
        best = max(results, key=lambda r: r["score"])
        print(f"best of {len(results)}: alpha={best['alpha']} (mean R^2 {best['score']})")
        return best

    best = choose_best(scores)

    delete_cluster = EmrRayClusterDeleteOperator(
        task_id="delete_cluster",
        cluster_id=create_cluster.output,
    ).as_teardown(setups=create_cluster)
    best >> delete_cluster
