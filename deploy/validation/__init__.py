"""Checks of the deployment artefacts: the Helm chart rendered by the real helm binary, the
rendered manifests against Kubernetes schemas, and PromQL in alerts and the Grafana dashboard
against the metrics the code exposes.

Run against your own values before installing:
    python -m deploy.validation -f my-values.yaml
"""
