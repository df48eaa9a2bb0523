"""The kustomize overlays render, pass kubernetes-validate --strict, their custom resources validate against
the published CRDs, and what they share with repotune's renderers and run config stays equal."""

from pathlib import Path

import pytest
import yaml

from repotune.config import load_config
from repotune.deploy.kserve import s3_secret_and_service_account, serving_runtime
from tests.crds import FILES, validate_custom_resource
from tests.k8s_tools import ROOT, documents, kubernetes_validate, run, tool

MANIFESTS = ROOT / "manifests"
OVERLAYS = ["dev", "prod"]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    kubectl = tool("kubectl")
    return {o: run(kubectl, "kustomize", str(MANIFESTS / "overlays" / o)) for o in OVERLAYS}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_passes_kubernetes_validate_strict(rendered, overlay):
    output = kubernetes_validate(rendered[overlay])
    assert "passed for resource job/repotune-submit" in output


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_custom_resources_validate_against_the_crds(rendered, overlay):
    custom = [d for d in documents(rendered[overlay]) if d["kind"] in FILES]
    assert [d["kind"] for d in custom] == ["ServingRuntime"]
    for doc in custom:
        validate_custom_resource(doc)


def _by_kind(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_base_files_equal_what_the_renderers_produce():
    from repotune.deploy.manifests import base_files

    base = MANIFESTS / "base"
    for name, text in base_files().items():
        assert (base / name).read_text() == text, f"manifests/base/{name} drifted: run repotune render-manifests"
    assert yaml.safe_load((base / "servingruntime.yaml").read_text()) == serving_runtime("repotune")
    expected = s3_secret_and_service_account("repotune", "minio.repotune.svc.cluster.local:9000",
                                             existing_secret="repotune-s3")
    assert list(yaml.safe_load_all((base / "s3-serviceaccount.yaml").read_text())) == expected


def test_dev_secret_carries_kserves_s3_annotations_and_minio_uses_it(rendered):
    docs = _by_kind(documents(rendered["dev"]))
    secret = docs[("Secret", "repotune-s3")]
    rendered_secret = s3_secret_and_service_account("repotune", "minio.repotune.svc.cluster.local:9000")[0]
    assert secret["metadata"]["annotations"] == rendered_secret["metadata"]["annotations"]
    assert set(secret["data"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    minio_env = docs[("StatefulSet", "minio")]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in minio_env} == {"repotune-s3"}


def test_prod_has_no_secret_and_a_gpu_serving_runtime(rendered):
    docs = _by_kind(documents(rendered["prod"]))
    assert not [k for k in docs if k[0] == "Secret"]
    runtime = docs[("ServingRuntime", "repotune-predictor")]
    assert runtime["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_submit_job_mounts_this_overlays_run_config_which_is_valid(rendered, overlay):
    docs = _by_kind(documents(rendered[overlay]))
    config_map = next(d for (kind, name), d in docs.items()
                      if kind == "ConfigMap" and name.startswith("repotune-run-config-"))
    job = docs[("Job", "repotune-submit")]
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PostSync"
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["run-config"]["configMap"]["name"] == config_map["metadata"]["name"]
    config_file = Path(MANIFESTS / "overlays" / overlay / "run-config.yaml")
    assert config_map["data"]["run-config.yaml"] == config_file.read_text()
    load_config(config_file)  # raises on an invalid field


def test_rbac_allows_rayjobs_and_inferenceservices_only(rendered):
    role = _by_kind(documents(rendered["prod"]))[("Role", "repotune-pipeline")]
    assert {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]} == {
        ("ray.io", "rayjobs"), ("serving.kserve.io", "inferenceservices")}
    assert not any("*" in rule["verbs"] for rule in role["rules"])


def test_kfp_launcher_points_the_pipeline_root_at_the_store(rendered):
    launcher = _by_kind(documents(rendered["dev"]))[("ConfigMap", "kfp-launcher")]
    assert launcher["data"]["defaultPipelineRoot"].startswith("s3://repotune/")
    providers = yaml.safe_load(launcher["data"]["providers"])
    assert providers["s3"]["default"]["credentials"]["secretRef"]["secretName"] == "repotune-s3"


def test_argocd_applications_point_at_existing_overlays():
    for app in (MANIFESTS / "gitops").glob("*.yaml"):
        doc = yaml.safe_load(app.read_text())
        assert doc["kind"] == "Application"
        assert (ROOT / doc["spec"]["source"]["path"] / "kustomization.yaml").is_file(), app.name
