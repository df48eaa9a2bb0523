"""The Helm chart: lint --strict, rendered objects pass kubernetes-validate --strict and the CRDs, values are
documented and typed, existingSecret is honoured, and the chart's ServingRuntime is the renderer's."""

import re
import subprocess

import pytest
import yaml

from repotune.config import load_config_text
from repotune.deploy.kserve import serving_runtime
from tests.crds import FILES, validate_custom_resource
from tests.k8s_tools import ROOT, documents, kubernetes_validate, run, tool

CHART = ROOT / "helm" / "repotune"
VALUE_SETS = {
    "defaults": [],
    "submit+existing-secrets": ["--set", "submit.enabled=true", "--set", "s3.existingSecret=team-s3",
                                "--set", "llm.existingSecret=team-llm"],
    "external-store": ["--set", "minio.enabled=false", "--set", "s3.endpoint=s3.example.com:443",
                       "--set", "s3.useHttps=true", "--set", "llm.apiKey=sk-fake-for-the-test"],
}


def template(*args: str, namespace: str = "repotune") -> list[dict]:
    return documents(run(tool("helm"), "template", "rt", str(CHART), "--namespace", namespace, *args))


def _by_kind(docs):
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


@pytest.mark.parametrize("values", VALUE_SETS)
def test_helm_lint_strict(values):
    run(tool("helm"), "lint", "--strict", str(CHART), *VALUE_SETS[values])


@pytest.mark.parametrize("values", VALUE_SETS)
def test_rendered_chart_passes_kubernetes_validate_and_the_crds(values):
    manifest = run(tool("helm"), "template", "rt", str(CHART), "--namespace", "repotune", *VALUE_SETS[values])
    kubernetes_validate(manifest)
    custom = [d for d in documents(manifest) if d["kind"] in FILES]
    assert [d["kind"] for d in custom] == ["ServingRuntime"]
    for doc in custom:
        validate_custom_resource(doc)


def test_serving_runtime_is_the_renderers():
    runtime = _by_kind(template())[("ServingRuntime", "repotune-predictor")]
    expected = serving_runtime("repotune")
    container = runtime["spec"]["containers"][0]
    assert container.pop("imagePullPolicy") == "IfNotPresent"
    assert runtime["spec"] == expected["spec"]


def test_existing_secrets_are_used_and_no_secret_is_rendered():
    docs = _by_kind(template(*VALUE_SETS["submit+existing-secrets"]))
    assert not [k for k in docs if k[0] == "Secret"]
    assert docs[("ServiceAccount", "repotune-s3")]["secrets"] == [{"name": "team-s3"}]
    minio_env = docs[("StatefulSet", "minio")]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in minio_env} == {"team-s3"}
    launcher = yaml.safe_load(docs[("ConfigMap", "kfp-launcher")]["data"]["providers"])
    assert launcher["s3"]["default"]["credentials"]["secretRef"]["secretName"] == "team-s3"
    args = docs[("Job", "repotune-submit")]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--s3-secret") + 1] == "team-s3"


def test_submitted_run_config_is_valid_and_points_at_the_store():
    docs = _by_kind(template(*VALUE_SETS["submit+existing-secrets"]))
    text = docs[("ConfigMap", "repotune-run-config")]["data"]["run-config.yaml"]
    config = load_config_text(text)
    assert config.store.url == "s3://repotune"
    assert config.store.endpoint == "minio.repotune.svc.cluster.local:9000" and config.store.secure is False
    assert config.train.launcher == "rayjob" and config.deploy.mode == "kserve"
    assert config.deploy.namespace == config.train.rayjob.namespace == "repotune"  # the release's namespace
    tests = [d for d in docs.values() if d.get("metadata", {}).get("annotations", {}).get("helm.sh/hook") == "test"]
    assert sorted(d["metadata"]["name"] for d in tests) == ["rt-test-run-config", "rt-test-store"]


def test_generated_keys_and_an_llm_key_are_only_in_secrets():
    docs = template(*VALUE_SETS["external-store"])
    by_kind = _by_kind(docs)
    s3 = by_kind[("Secret", "repotune-s3")]
    assert s3["metadata"]["annotations"]["serving.kserve.io/s3-endpoint"] == "s3.example.com:443"
    assert s3["metadata"]["annotations"]["serving.kserve.io/s3-usehttps"] == "1"
    assert set(s3["data"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} and all(s3["data"].values())
    assert ("Secret", "repotune-llm") in by_kind
    outside = yaml.safe_dump_all([d for d in docs if d["kind"] != "Secret"])
    assert "sk-fake-for-the-test" not in outside


def test_schema_rejects_wrong_types_and_unknown_keys():
    helm = tool("helm")
    for bad in (["--set-string", "minio.enabled=yes"], ["--set", "minio.replicas=3"], ["--set", "s3.bucket=Bad_Name"]):
        result = subprocess.run([helm, "template", "rt", str(CHART), *bad], capture_output=True, text=True)
        assert result.returncode != 0 and "values don't meet the specifications of the schema" in result.stderr, bad


def test_an_external_store_needs_an_endpoint():
    result = subprocess.run([tool("helm"), "template", "rt", str(CHART), "--set", "minio.enabled=false"],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "s3.endpoint is required when minio.enabled is false" in result.stderr


def test_every_value_is_documented():
    lines = (CHART / "values.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s*[A-Za-z][A-Za-z0-9]*:", line) and not line.lstrip().startswith("#"):
            above = lines[i - 1].strip() if i else ""
            nested_in_documented_map = re.match(r"^\s{4,}(requests|limits|analyze|train|source|launcher|base_model|deploy|mode)",
                                                line)
            assert above.startswith("#") or nested_in_documented_map, f"values.yaml:{i + 1} undocumented: {line}"


def test_the_submitted_run_targets_the_release_namespace():
    docs = _by_kind(template("--set", "submit.enabled=true", namespace="ml-team"))
    config = load_config_text(docs[("ConfigMap", "repotune-run-config")]["data"]["run-config.yaml"])
    assert config.deploy.namespace == config.train.rayjob.namespace == "ml-team"
    assert config.store.endpoint == "minio.ml-team.svc.cluster.local:9000"
