"""The KServe rollout through the Kubernetes API: create the adapter's InferenceService, or update it as a
canary (KServe's canaryTrafficPercent, tag routing so the smoke request reaches the new revision), wait for it
to be Ready, smoke-test it, then promote; on a timeout or a failed smoke request, roll back (a new service is
deleted, a canary is sent 0% of the traffic) and stop with the reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from repotune.errors import StepError

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
TAG_ROUTING = "serving.kserve.io/enable-tag-routing"


@dataclass
class Rollout:
    action: str  # "created" | "updated"
    url: str
    smoke: dict[str, Any]
    events: list[str] = field(default_factory=list)


def ready_status(obj: dict[str, Any]) -> tuple[bool, str]:
    """Whether KServe reports the service Ready for its current spec, and the reason when not."""
    status = obj.get("status") or {}
    generation = obj.get("metadata", {}).get("generation")
    if generation is not None and status.get("observedGeneration", generation) < generation:
        return False, "the controller has not seen the latest spec yet"
    predictor = (status.get("components") or {}).get("predictor") or {}
    if predictor.get("latestCreatedRevision") and \
            predictor.get("latestCreatedRevision") != predictor.get("latestReadyRevision"):
        return False, f"revision {predictor['latestCreatedRevision']} is not ready"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            if condition.get("status") == "True":
                return True, ""
            return False, condition.get("message") or condition.get("reason") or "Ready is False"
    return False, "no Ready condition yet"


def latest_url(obj: dict[str, Any]) -> str:
    """The newest revision's own URL (tag routing), else the service URL."""
    predictor = ((obj.get("status") or {}).get("components") or {}).get("predictor") or {}
    for target in predictor.get("traffic") or []:
        if target.get("tag") == "latest" and target.get("url"):
            return target["url"]
    return (obj.get("status") or {}).get("url", "")


class KServeRollout:
    def __init__(self, api: Any, namespace: str, name: str, *, timeout_s: float, poll_interval_s: float,
                 log: Callable[[str], None] = lambda message: None):
        self.api, self.namespace, self.name = api, namespace, name
        self.timeout_s, self.poll_interval_s = timeout_s, poll_interval_s
        self.events: list[str] = []
        self._log = log

    def _event(self, message: str) -> None:
        self.events.append(message)
        self._log(f"deploy: {self.namespace}/{self.name}: {message}")

    def _get(self) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise self._error("read", e) from None

    def _error(self, verb: str, e: Any) -> StepError:
        from repotune.k8s import api_message

        return StepError(f"deploy: cannot {verb} InferenceService {self.namespace}/{self.name}: {e.status} "
                         f"{e.reason}: {api_message(e)}")

    def _call(self, verb: str, fn: Callable[..., Any], *args: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(GROUP, VERSION, self.namespace, PLURAL, *args)
        except ApiException as e:
            raise self._error(verb, e) from None

    def _patch(self, body: dict[str, Any]) -> None:
        self._call("patch", self.api.patch_namespaced_custom_object, self.name, body)

    def wait_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        reason = ""
        while True:
            obj = self._get()
            if obj is not None:
                ok, reason = ready_status(obj)
                if ok:
                    return obj
            if time.monotonic() > deadline:
                raise StepError(f"deploy: InferenceService {self.namespace}/{self.name} was not Ready within "
                                f"{self.timeout_s:.0f}s: {reason or 'not found'}")
            time.sleep(self.poll_interval_s)

    def apply(self, isvc: dict[str, Any], canary_percent: int,
              smoke: Callable[[str], dict[str, Any]]) -> Rollout:
        """Create, or canary-update then promote; smoke(url) raises StepError when the answer is wrong."""
        isvc = {**isvc, "metadata": {**isvc["metadata"], "annotations": {
            **isvc["metadata"].get("annotations", {}), TAG_ROUTING: "true"}}}
        if self._get() is None:
            self._call("create", self.api.create_namespaced_custom_object, isvc)
            self._event("created")
            try:
                url = latest_url(self.wait_ready())
                result = smoke(url)
            except StepError:
                self._call("delete", self.api.delete_namespaced_custom_object, self.name)
                self._event("rolled back: deleted the new InferenceService")
                raise
            return Rollout("created", url, result, self.events)
        spec = {**isvc["spec"], "predictor": {**isvc["spec"]["predictor"], "canaryTrafficPercent": canary_percent}}
        self._patch({"metadata": {"annotations": isvc["metadata"]["annotations"]}, "spec": spec})
        self._event(f"updated as a canary with {canary_percent}% of the traffic")
        try:
            url = latest_url(self.wait_ready())
            result = smoke(url)
        except StepError:
            self._patch({"spec": {"predictor": {"canaryTrafficPercent": 0}}})
            self._event("rolled back: the canary gets 0% of the traffic, the previous revision serves")
            raise
        self._patch({"spec": {"predictor": {"canaryTrafficPercent": None}}})  # merge patch: null removes it
        self._event("promoted: the new revision gets all the traffic")
        service_url = ((self._get() or {}).get("status") or {}).get("url", url)
        return Rollout("updated", service_url, result, self.events)


def smoke_request(model: str, prompt: str, timeout_s: float = 120) -> Callable[[str], dict[str, Any]]:
    """A chat completion through the OpenAI route; any non-200 or empty answer fails the rollout."""
    import httpx

    def send(url: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            response = httpx.post(f"{url.rstrip('/')}/openai/v1/chat/completions", timeout=timeout_s, json={
                "model": model, "max_tokens": 32, "messages": [{"role": "user", "content": prompt}]})
        except httpx.HTTPError as e:
            raise StepError(f"deploy: the smoke request to {url} failed: {type(e).__name__}: {e}") from None
        if response.status_code != 200:
            raise StepError(f"deploy: the smoke request to {url} got HTTP {response.status_code}: "
                            f"{response.text[:300]}")
        answer = response.json()
        return {"status": 200, "seconds": round(time.perf_counter() - t0, 3),
                "answer": answer["choices"][0]["message"]["content"], "usage": answer.get("usage", {})}

    return send
