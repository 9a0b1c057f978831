"""``python -m tests.chaos.onboard_once '<spec as JSON>'``: one customer's onboarding in a process of its own, under
the task retry policy, printing ``step <name>`` as each step starts (the crash trials kill it with SIGKILL)."""

from __future__ import annotations

import json
import random
import sys

from onboarding.context import CustomerContext
from onboarding.models import load_customer_spec
from onboarding.settings import Settings

from .fleet import Tally, onboard


def main() -> None:
    spec = load_customer_spec(json.loads(sys.argv[1]))
    onboard(CustomerContext(spec, Settings()), tally=Tally(announce=True), rng=random.Random(spec.name))
    print("verified", flush=True)


if __name__ == "__main__":
    main()
