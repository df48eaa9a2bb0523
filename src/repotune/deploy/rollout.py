"""The KServe rollout through the Kubernetes API: create the adapter's InferenceService, or update it as a
canary (KServe's canaryTrafficPercent, tag routing so the smoke request reaches the new revision), wait for it
to be Ready, smoke-test it, then promote; on a timeout or a failed smoke request, roll back (a new service is
deleted, a canary is sent 0% of the traffic) and stop with the reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from repotune.core.errors import StepError

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
TAG_ROUTING = "serving.kserve.io/enable-tag-routing"


class ApiCallFailed(StepError):
    """A refused API call; `status` is the HTTP code (0: the API server was unreachable)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


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
        try:
            return self._call("read", self.api.get_namespaced_custom_object, self.name)
        except ApiCallFailed as e:
            if e.status == 404:
                return None
            raise

    def _error(self, verb: str, e: Any) -> ApiCallFailed:
        from repotune.core.k8s import api_message

        return ApiCallFailed(f"deploy: cannot {verb} InferenceService {self.namespace}/{self.name}: {e.status} "
                             f"{e.reason}: {api_message(e)}", e.status)

    def _call(self, verb: str, fn: Callable[..., Any], *args: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(GROUP, VERSION, self.namespace, PLURAL, *args)
        except ApiException as e:
            raise self._error(verb, e) from None
        except HTTPError as e:  # unreachable API server: urllib3's retry error, not an ApiException
            host = getattr(getattr(getattr(self.api, "api_client", None), "configuration", None), "host", "?")
            raise ApiCallFailed(f"deploy: cannot {verb} InferenceService {self.namespace}/{self.name}: the "
                                f"Kubernetes API at {host} is unreachable: {type(e).__name__}", 0) from None

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
                                f"{self.timeout_s:g}s: {reason or 'not found'}")
            time.sleep(self.poll_interval_s)

    def _rollback(self, error: StepError, undo: Callable[[], Any], done: str) -> StepError:
        """Undo, and say so in the error; a failed undo is reported alongside the original failure."""
        try:
            undo()
        except StepError as e:
            return StepError(f"{error}; the rollback failed too: {e}")
        self._event(f"rolled back: {done}")
        return StepError(f"{error}; rolled back: {done}")

    def _try(self, smoke: Callable[[str], dict[str, Any]], undo: Callable[[], Any],
             done: str) -> tuple[str, dict[str, Any]]:
        try:
            url = latest_url(self.wait_ready())
            return url, smoke(url)
        except StepError as e:
            raise self._rollback(e, undo, done) from None

    def apply(self, isvc: dict[str, Any], canary_percent: int,
              smoke: Callable[[str], dict[str, Any]]) -> Rollout:
        """Create, or canary-update then promote; smoke(url) raises StepError when the answer is wrong."""
        isvc = {**isvc, "metadata": {**isvc["metadata"], "annotations": {
            **isvc["metadata"].get("annotations", {}), TAG_ROUTING: "true"}}}
        if self._get() is None:
            try:
                self._call("create", self.api.create_namespaced_custom_object, isvc)
            except ApiCallFailed as e:
                if e.status != 409:
                    raise
                self._event("already exists (created meanwhile): updating it instead")
            else:
                self._event("created")
                url, result = self._try(smoke, lambda: self._call(
                    "delete", self.api.delete_namespaced_custom_object, self.name),
                    "deleted the new InferenceService")
                return Rollout("created", url, result, self.events)
        spec = {**isvc["spec"], "predictor": {**isvc["spec"]["predictor"], "canaryTrafficPercent": canary_percent}}
        self._patch({"metadata": {"annotations": isvc["metadata"]["annotations"]}, "spec": spec})
        self._event(f"updated as a canary with {canary_percent}% of the traffic")
        # KServe's rollback: a 0% canary sends all the traffic back to the previous ready revision
        url, result = self._try(smoke, lambda: self._patch({"spec": {"predictor": {"canaryTrafficPercent": 0}}}),
                                "the canary gets 0% of the traffic, the previous revision serves")
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
        try:
            answer = response.json()
            content = answer["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            content = None
        if not content:
            raise StepError(f"deploy: the smoke request to {url} got no chat answer: {response.text[:300]}")
        return {"status": 200, "seconds": round(time.perf_counter() - t0, 3), "answer": content,
                "usage": answer.get("usage", {})}

    return send
