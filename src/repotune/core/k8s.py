"""The Kubernetes API through the official client, for the steps that create custom resources (the train
step's RayJob, deploy's InferenceService): in-cluster credentials first, then the local kubeconfig."""

from __future__ import annotations

import json
from typing import Any


def custom_objects_api(api_client: Any = None) -> Any:
    from kubernetes import client, config

    if api_client is None:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        api_client = client.ApiClient()
    return client.CustomObjectsApi(api_client)


def api_message(error: Any) -> str:
    """The API server's message from an ApiException (its body is a Status object)."""
    try:
        return json.loads(error.body).get("message", "")
    except (TypeError, ValueError):
        return str(error.body or "")[:300]
