"""`make bench`: how the offline checks scale, measured in one run on this machine.

1. The offline job (plan of every stack + rendering and validating every overlay) against the bare
   import time of pulumi + pulumi_gcp + pulumi_kubernetes, each in a fresh interpreter.
2. The plan of a synthetic 10-zone stack against the same stack with 1 zone, in one interpreter
   after a warm-up (so imports are not counted twice).
Benchmarks, not tests: nothing here asserts a time. Results go to docs/performance.md by hand,
with the first line printed (a fixed Python loop's CPU time), which says how fast the machine was.
"""

from __future__ import annotations

import argparse
import ipaddress
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from offline.engine import REPO_ROOT, plan_stack, stack_config, stacks

BARE_IMPORT = "import pulumi, pulumi_gcp, pulumi_kubernetes"
# pulumi_gcp and pulumi_kubernetes load submodules lazily, on first attribute access: touching one
# class of each submodule the program uses loads what a plan has to load.
USED_MODULES = (
    "import pulumi, pulumi_random, pulumi_tls, pulumi_gcp as gcp, pulumi_kubernetes as k8s; "
    "gcp.compute.Network, gcp.container.Cluster, gcp.projects.Service, gcp.secretmanager.Secret, "
    "gcp.serviceaccount.Account, k8s.core.v1.Namespace, k8s.helm.v3.Release, "
    "k8s.apiextensions.CustomResource, k8s.meta.v1.ObjectMetaArgs, k8s.Provider, "
    "pulumi_random.RandomPassword, pulumi_tls.PrivateKey"
)
WORKLOAD = "from offline.bench import offline_job; offline_job()"


def offline_job() -> int:
    """What `make plan` for every stack plus the GitOps render/validation does; returns #docs."""
    from offline.gitops import checks
    from offline.gitops import facts as gitops_facts

    documents = 0
    for stack in stacks():
        for render in gitops_facts.rendered_stack(stack):
            docs = [d for output in render.outputs for d in output.docs]
            problems = render.problems + checks.check_admission(docs)
            if problems:
                raise RuntimeError(f"{stack}: {problems[:3]}")
            documents += len(docs)
    return documents


def timed_process(code: str, runs: int) -> float:
    """Median wall time of `python -c code` in a fresh interpreter."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def synthetic_zones(zones: int) -> dict[str, Any]:
    """The staging stack with `zones` zone clusters carved out of 10.64.0.0/10."""
    config = stack_config("staging")
    global_cluster = next(c for c in config["platform:clusters"] if c["role"] == "global")
    template = next(c for c in config["platform:clusters"] if c["role"] == "zone")
    regions = config["platform:allowedRegions"]
    blocks = ipaddress.IPv4Network("10.64.0.0/10").subnets(new_prefix=16)
    control_planes = ipaddress.IPv4Network("172.17.0.0/24").subnets(new_prefix=28)
    clusters = [global_cluster]
    for i in range(zones):
        block = next(blocks)
        nodes, services = list(block.subnets(new_prefix=20))[:2]
        clusters.append(
            {
                **template,
                "name": f"zone-{i:02d}",
                "kumaZone": f"zone-{i:02d}",
                "region": regions[i % len(regions)],
                "ranges": {
                    "nodes": str(nodes),
                    "pods": str(next(blocks)),
                    "services": str(services),
                    "controlPlane": str(next(control_planes)),
                },
            }
        )
    return {"platform:clusters": clusters}


def reference_loop() -> int:
    """A fixed pure-Python workload (no I/O, no imports): its CPU time says how fast this
    machine runs Python, so timings taken on different machines can be compared."""
    total = 0
    for i in range(10_000_000):
        total += i
    return total


def timed(
    function: Callable[[], object], runs: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Median time of `function` by `clock` (wall by default; time.process_time: this process's
    CPU only, what other processes do is not counted)."""
    samples = []
    for _ in range(runs):
        started = clock()
        function()
        samples.append(clock() - started)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    machine = timed(reference_loop, args.runs, time.process_time)
    print(f"this machine: 10^7 additions in a Python loop:        {machine:6.2f} s CPU")
    bare = timed_process(BARE_IMPORT, args.runs)
    used = timed_process(USED_MODULES, args.runs)
    job = timed_process(WORKLOAD, args.runs)
    print(f"bare import of pulumi + pulumi_gcp + pulumi_kubernetes: {bare:6.2f} s")
    print(f"import of the provider modules the program uses:        {used:6.2f} s")
    print(f"offline job (plan every stack, render + validate overlays): {job:6.2f} s")
    print(f"  ratio to the bare import:   {job / bare:5.1f}x   (aim: <= 3x)")
    print(f"  ratio to the modules used:  {job / used:5.1f}x")

    one, ten = synthetic_zones(1), synthetic_zones(10)
    plan_stack("staging", one)  # warm-up: imports and caches are paid once
    one_zone = timed(lambda: plan_stack("staging", one), args.runs)
    ten_zones = timed(lambda: plan_stack("staging", ten), args.runs)
    resources = (
        len(plan_stack("staging", one).resources),
        len(plan_stack("staging", ten).resources),
    )
    print(f"plan, 1 zone  ({resources[0]:3d} resources): {one_zone:6.2f} s")
    print(f"plan, 10 zones ({resources[1]:3d} resources): {ten_zones:6.2f} s")
    print(f"  ratio: {ten_zones / one_zone:5.1f}x   (aim: <= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
