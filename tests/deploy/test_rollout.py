"""The KServe rollout through the real kubernetes client, against a fake Kubernetes API at the HTTP level
(no API server runs here) whose 'operator' moves the InferenceService's status like KServe, and a fake
predictor answering (or failing) the smoke request: create, canary update and promotion, not-ready timeout,
rollback on a failed smoke request."""

import json

import pytest

from repotune.config import RunConfig
from repotune.deploy.kserve import inference_service
from repotune.deploy.rollout import KServeRollout, smoke_request
from repotune.deploy.step import run_kserve
from repotune.core.errors import StepError
from repotune.core.k8s import custom_objects_api
from repotune.core.step import StepContext
from repotune.core.store import open_store
from tests.crds import validate_custom_resource
from tests.json_http import JsonServer
from tests.k8s_fake import FakeKubernetes


class FakePredictor:
    """Answers POST .../openai/v1/chat/completions with 200 and `answer` (or `fail_with`), recording the paths."""

    def __init__(self):
        self.paths, self.fail_with, self.answer = [], None, "Add a and b."
        self.url = JsonServer(self._handle).url

    def _handle(self, method, path, body):
        self.paths.append(path)
        if self.fail_with:
            return self.fail_with, {"error": "model failed to load"}
        return 200, {"choices": [{"message": {"role": "assistant", "content": self.answer}}],
                     "usage": {"prompt_tokens": 9, "completion_tokens": 4}}


def _existing(k8s):
    existing = json.loads(json.dumps(ISVC))
    existing["metadata"].update(generation=1, namespace="ml")
    k8s.objects[("inferenceservices", "ml", "tinyshop")] = existing


def kserve_operator(predictor: FakePredictor, ready_after: int = 2, never_ready: bool = False):
    """Plays KServe: a new generation becomes Ready after `ready_after` reads, with a tagged latest URL."""
    reads: dict[int, int] = {}

    def operate(isvc: dict) -> None:
        generation = isvc["metadata"]["generation"]
        reads[generation] = reads.get(generation, 0) + 1
        revision = f"{isvc['metadata']['name']}-predictor-{generation:05d}"
        status = isvc.setdefault("status", {})
        if never_ready:
            status.update(observedGeneration=generation, conditions=[
                {"type": "Ready", "status": "False", "reason": "RevisionFailed",
                 "message": "Revision failed: storage initializer could not download s3://models/adapter"}])
            return
        if reads[generation] < ready_after:
            status.update(observedGeneration=generation, conditions=[{"type": "Ready", "status": "Unknown"}],
                          components={"predictor": {"latestCreatedRevision": revision,
                                                    "latestReadyRevision": status.get("components", {}).get(
                                                        "predictor", {}).get("latestReadyRevision")}})
            return
        status.update(observedGeneration=generation, url=f"{predictor.url}/svc",
                      conditions=[{"type": "Ready", "status": "True"}],
                      components={"predictor": {"latestCreatedRevision": revision, "latestReadyRevision": revision,
                                                "traffic": [{"tag": "latest", "revisionName": revision,
                                                             "url": f"{predictor.url}/latest"}]}})
    return operate


ISVC = inference_service("tinyshop", "ml", "s3://models/runs/r1/train/adapter")


def _rollout(k8s, timeout_s=5.0):
    return KServeRollout(custom_objects_api(k8s.api_client()), "ml", "tinyshop", timeout_s=timeout_s,
                         poll_interval_s=0.01)


def _patches(k8s):
    return [body for method, _, body in k8s.requests if method == "PATCH"]


def test_first_deploy_creates_waits_smokes_the_new_revision_and_reports(tmp_path):
    predictor = FakePredictor()
    with FakeKubernetes() as k8s:
        k8s.operators["inferenceservices"] = kserve_operator(predictor)
        done = _rollout(k8s).apply(ISVC, 10, smoke_request("tinyshop-lora", "Write the docstring of: add"))
    created = next(body for method, _, body in k8s.requests if method == "POST")
    validate_custom_resource(created)
    assert created["metadata"]["annotations"]["serving.kserve.io/enable-tag-routing"] == "true"
    assert done.action == "created" and done.url == f"{predictor.url}/latest"
    assert predictor.paths == ["/latest/openai/v1/chat/completions"]
    assert done.smoke["answer"] == "Add a and b." and _patches(k8s) == []


def test_an_update_goes_out_as_a_canary_then_is_promoted():
    predictor = FakePredictor()
    with FakeKubernetes() as k8s:
        k8s.operators["inferenceservices"] = kserve_operator(predictor)
        _existing(k8s)
        newer = inference_service("tinyshop", "ml", "s3://models/runs/r2/train/adapter")
        done = _rollout(k8s).apply(newer, 10, smoke_request("tinyshop-lora", "hi"))
        stored = k8s.objects[("inferenceservices", "ml", "tinyshop")]
    canary, promote = _patches(k8s)
    assert canary["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert canary["spec"]["predictor"]["model"]["storageUri"] == "s3://models/runs/r2/train/adapter"
    assert promote == {"spec": {"predictor": {"canaryTrafficPercent": None}}}
    assert "canaryTrafficPercent" not in stored["spec"]["predictor"]  # promoted: all traffic to the new revision
    assert stored["spec"]["predictor"]["model"]["storageUri"].endswith("r2/train/adapter")
    assert done.action == "updated" and done.url == f"{predictor.url}/svc"
    assert predictor.paths == ["/latest/openai/v1/chat/completions"]  # the smoke request hit the canary itself
    assert done.events[-1].startswith("promoted")


def test_a_service_that_never_gets_ready_times_out_and_is_removed():
    predictor = FakePredictor()
    with FakeKubernetes() as k8s:
        k8s.operators["inferenceservices"] = kserve_operator(predictor, never_ready=True)
        with pytest.raises(StepError, match=r"ml/tinyshop was not Ready within 0.2s: Revision failed: storage "
                           r"initializer.*; rolled back: deleted the new InferenceService$"):
            _rollout(k8s, timeout_s=0.2).apply(ISVC, 10, smoke_request("tinyshop-lora", "hi"))
        assert ("inferenceservices", "ml", "tinyshop") not in k8s.objects
    assert [m for m, _, _ in k8s.requests if m != "GET"] == ["POST", "DELETE"]
    assert predictor.paths == []


def test_a_failed_smoke_request_on_a_canary_rolls_back_to_the_previous_revision():
    predictor = FakePredictor()
    predictor.fail_with = 500
    with FakeKubernetes() as k8s:
        k8s.operators["inferenceservices"] = kserve_operator(predictor)
        _existing(k8s)
        with pytest.raises(StepError, match="smoke request to .*/latest got HTTP 500: .*model failed to load.*"
                                            "; rolled back: the canary gets 0% of the traffic"):
            _rollout(k8s).apply(ISVC, 25, smoke_request("tinyshop-lora", "hi"))
        stored = k8s.objects[("inferenceservices", "ml", "tinyshop")]
    canary, rollback = _patches(k8s)
    assert canary["spec"]["predictor"]["canaryTrafficPercent"] == 25
    assert rollback == {"spec": {"predictor": {"canaryTrafficPercent": 0}}}
    assert stored["spec"]["predictor"]["canaryTrafficPercent"] == 0


def test_patches_are_merge_patches_and_the_promoted_object_still_validates():
    predictor = FakePredictor()
    with FakeKubernetes() as k8s:  # it records each request's Content-Type
        k8s.operators["inferenceservices"] = kserve_operator(predictor)
        _existing(k8s)
        _rollout(k8s).apply(inference_service("tinyshop", "ml", "s3://models/r2/adapter", gpus=1), 10,
                            smoke_request("tinyshop-lora", "hi"))
        stored = {k: v for k, v in k8s.objects[("inferenceservices", "ml", "tinyshop")].items() if k != "status"}
    assert {ct for method, ct in k8s.content_types if method == "PATCH"} == {"application/merge-patch+json"}
    validate_custom_resource(stored)


def test_a_canary_that_never_gets_ready_is_rolled_back_to_zero_percent():
    predictor = FakePredictor()
    with FakeKubernetes() as k8s:
        k8s.operators["inferenceservices"] = kserve_operator(predictor, never_ready=True)
        _existing(k8s)
        with pytest.raises(StepError, match=r"not Ready within 0.2s: Revision failed.*; rolled back: the canary"):
            _rollout(k8s, timeout_s=0.2).apply(ISVC, 10, smoke_request("tinyshop-lora", "hi"))
        assert ("inferenceservices", "ml", "tinyshop") in k8s.objects  # the previous revision keeps serving
    assert [body["spec"]["predictor"]["canaryTrafficPercent"] for body in _patches(k8s)] == [10, 0]
    assert "DELETE" not in [m for m, _, _ in k8s.requests] and predictor.paths == []


def test_an_empty_answer_fails_the_smoke_request_and_deletes_a_new_service():
    predictor = FakePredictor()
    predictor.answer = ""
    with FakeKubernetes() as k8s:
        k8s.operators["inferenceservices"] = kserve_operator(predictor)
        with pytest.raises(StepError, match="got no chat answer.*; rolled back: deleted the new InferenceService"):
            _rollout(k8s).apply(ISVC, 10, smoke_request("tinyshop-lora", "hi"))
        assert not k8s.objects


def test_a_service_created_meanwhile_is_updated_instead():
    predictor = FakePredictor()
    with FakeKubernetes() as k8s:
        k8s.operators["inferenceservices"] = kserve_operator(predictor)
        _existing(k8s)
        handle, reads = k8s.handle, []

        def first_read_misses(method, path, body):  # someone created it between our read and our create
            if method == "GET" and not reads:
                reads.append(path)
                return 404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": "not found"}
            return handle(method, path, body)

        k8s.handle = first_read_misses
        done = _rollout(k8s).apply(ISVC, 10, smoke_request("tinyshop-lora", "hi"))
    assert done.action == "updated" and done.events[0].startswith("already exists")
    assert [body["spec"]["predictor"].get("canaryTrafficPercent") for body in _patches(k8s)] == [10, None]


def test_an_unreachable_api_server_is_a_clear_error():
    from kubernetes import client

    with FakeKubernetes() as k8s:
        url = k8s.url
    configuration = client.Configuration()
    configuration.host, configuration.retries = url, 0
    rollout = KServeRollout(custom_objects_api(client.ApiClient(configuration)), "ml", "tinyshop", timeout_s=1,
                            poll_interval_s=0.01)
    with pytest.raises(StepError, match=f"cannot read InferenceService ml/tinyshop: the Kubernetes API at {url} "
                                        "is unreachable"):
        rollout.apply(ISVC, 10, smoke_request("tinyshop-lora", "hi"))


def test_a_forbidden_create_is_a_clear_error():
    with FakeKubernetes() as k8s:
        k8s.handle = lambda method, path, body: (404, {"kind": "Status", "code": 404, "message": "not found"}) \
            if method == "GET" else (403, {"kind": "Status", "code": 403, "reason": "Forbidden",
                                           "message": "inferenceservices.serving.kserve.io is forbidden"})
        with pytest.raises(StepError, match="cannot create InferenceService ml/tinyshop: 403.*forbidden"):
            _rollout(k8s).apply(ISVC, 10, smoke_request("tinyshop-lora", "hi"))


def _ctx(tmp_path, **deploy):
    config = RunConfig.model_validate({"run_id": "r1", "store": {"url": f"file://{tmp_path}"},
                                       "deploy": {"mode": "kserve", "namespace": "ml", "poll_interval_s": 0.01,
                                                  "ready_timeout_s": 5, **deploy}})
    return StepContext(config=config, store=open_store(config.store), step="deploy")


def test_the_deploy_step_in_kserve_mode_reports_the_endpoint(tmp_path):
    predictor = FakePredictor()
    ctx = _ctx(tmp_path, storage_uri="s3://models/runs/r1/train/adapter", adapter_name="tinyshop-lora")
    with FakeKubernetes() as k8s:
        k8s.operators["inferenceservices"] = kserve_operator(predictor)
        result = run_kserve(ctx, api=custom_objects_api(k8s.api_client()))
    report = json.loads(ctx.store.get_bytes("runs/r1/deploy/deploy.json"))
    assert report["name"] == "tinyshop" and report["model"] == "tinyshop-lora" and report["action"] == "created"
    assert report["url"] == f"{predictor.url}/latest/openai/v1" and result.counts == {"smoke_requests": 1}


def test_the_adapter_uri_is_the_train_output_in_the_s3_store(tmp_path):
    from types import SimpleNamespace

    from repotune.deploy.step import adapter_uri

    ctx = _ctx(tmp_path)
    ctx.store = SimpleNamespace(url="s3://models/team")  # only its URL matters here
    assert adapter_uri(ctx) == "s3://models/team/runs/r1/train/adapter"


def test_kserve_mode_needs_an_s3_store_or_a_storage_uri(tmp_path):
    with pytest.raises(StepError, match="deploy.mode=kserve needs the adapter where the cluster can fetch it"):
        run_kserve(_ctx(tmp_path), api=object())


def test_the_vllm_runtime_rolls_out_the_base_and_the_adapter(tmp_path):
    predictor = FakePredictor()
    ctx = _ctx(tmp_path, storage_uri="s3://models/runs/r1/train/adapter", runtime="vllm",
               base_model_uri="s3://models/base/smollm2", adapter_name="docs")
    with FakeKubernetes() as k8s:
        k8s.operators["inferenceservices"] = kserve_operator(predictor)
        run_kserve(ctx, api=custom_objects_api(k8s.api_client()))
    created = next(body for method, _, body in k8s.requests if method == "POST")
    validate_custom_resource(created)
    assert "docs=/mnt/models/adapters/docs" in created["spec"]["predictor"]["model"]["args"]
    assert json.loads(ctx.store.get_bytes("runs/r1/deploy/deploy.json"))["model"] == "docs"
    with pytest.raises(StepError, match="deploy.base_model_uri"):
        run_kserve(_ctx(tmp_path, storage_uri="s3://m/a", runtime="vllm"), api=object())
