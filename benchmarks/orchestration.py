"""Scenario 5: the same onboarding through Prefect (flow called in-process against the server; and a deployment
run on the process worker) against run_onboarding called directly; fresh customers of one shape, then re-runs."""

from __future__ import annotations

import time

from onboarding.models import CustomerSpec
from tools.stack import PrefectStack

from .common import Bench, Figure, make_spec, onboard_direct
from .prefect_runs import run_and_wait

DIRECT, IN_PROCESS, DEPLOYMENT = 3400, 3406, 3403  # shape 0, like the critical path customer


def _flow_in_process(stack: PrefectStack, spec: CustomerSpec) -> float:
    from flows.onboard_customer import onboard_customer

    started = time.monotonic()
    with stack.settings():
        onboard_customer(spec.name)
    return time.monotonic() - started


def run(bench: Bench, stack: PrefectStack) -> str:
    """Returns the name of the customer onboarded through the deployment (the event scenario watches it)."""
    direct_spec, flow_spec, deployed_spec = (make_spec(bench, i) for i in (DIRECT, IN_PROCESS, DEPLOYMENT))
    direct = onboard_direct(direct_spec).seconds
    in_process = _flow_in_process(stack, flow_spec)
    params = {"customer": deployed_spec.name}
    run, deployed = run_and_wait(stack, "onboard-customer/fleet", params)
    flow_time = run.total_run_time.total_seconds()
    direct_rerun = onboard_direct(direct_spec).seconds
    in_process_rerun = _flow_in_process(stack, flow_spec)
    _, deployed_rerun = run_and_wait(stack, "onboard-customer/fleet", params)
    bench.details["orchestration"] = {
        "direct_s": round(direct, 2),
        "flow_in_process_s": round(in_process, 2),
        "deployment_run_s": round(deployed, 2),
        "deployment_flow_run_time_s": round(flow_time, 2),
        "rerun_direct_s": round(direct_rerun, 2),
        "rerun_flow_in_process_s": round(in_process_rerun, 2),
        "rerun_deployment_run_s": round(deployed_rerun, 2),
    }
    bench.report(Figure("orchestration_overhead", in_process / direct, note="in-process flow / direct"))
    bench.report(
        Figure("orchestration_overhead_deployment", deployed / direct, note="deployment run / direct")
    )
    bench.report(
        Figure("orchestration_overhead_rerun", in_process_rerun / direct_rerun, note="re-run: flow / direct")
    )
    bench.report(Figure("deployment_run_startup", round(deployed - flow_time, 2), "s"))
    return deployed_spec.name


def onboard_deployed(bench: Bench, stack: PrefectStack) -> str:
    """Only onboard one customer through the deployment (the event scenario watches it)."""
    spec = make_spec(bench, DEPLOYMENT)
    run_and_wait(stack, "onboard-customer/fleet", {"customer": spec.name})
    return spec.name
