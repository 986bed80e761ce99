"""python -m deploy.validation [-f VALUES]... [--set K=V]...: lint and render the chart with the
real helm, validate every manifest, and check the alerts' PromQL against the exposed metrics."""

from __future__ import annotations

import argparse
import sys

from deploy.validation import helm, manifests, promql
from deploy.validation.metric_names import exposed_metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.validation", description=__doc__)
    parser.add_argument("-f", "--values", action="append", default=[], help="values file (repeatable)")
    parser.add_argument("--set", action="append", default=[], dest="set_values", help="K=V (repeatable)")
    parser.add_argument("--kube-version", default=helm.KUBE_VERSION)
    args = parser.parse_args(argv)
    try:
        binary = helm.helm_binary()
        print(helm.lint(binary, args.values, args.set_values).strip())
        docs = helm.template(binary, args.values, args.set_values, kube_version=args.kube_version)
    except (helm.HelmUnavailable, helm.HelmFailed) as exc:
        print(exc, file=sys.stderr)
        return 1
    found = manifests.all_problems(docs, args.kube_version)
    exposed = exposed_metrics()
    for doc in docs:
        if doc.get("kind") == "PrometheusRule":
            for group in doc["spec"]["groups"]:
                for rule in group["rules"]:
                    found += [
                        f"rule {rule.get('alert')}: {p}" for p in promql.reference_problems(rule["expr"], exposed)
                    ]
    for problem in found:
        print(problem, file=sys.stderr)
    print(f"{len(docs)} manifests rendered, {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
