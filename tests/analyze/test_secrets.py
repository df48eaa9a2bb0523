"""Secrets: a planted corpus of 49 credential kinds in 12 file types never survives (the redactor, the analysis,
a whole run's store, logs and console); ordinary code, lock files and names of secrets are left alone."""

import json
import logging
import tarfile
from collections import Counter

import pytest

from repotune.analyze.discover import discover, is_lockfile
from repotune.analyze.step import analyze_repository
from repotune.parsing import secret_engine
from repotune.parsing.extract import analyze_file
from repotune.parsing.languages import detect_language
from repotune.parsing.secrets import redact
from tests.analyze.planted_secrets import corpus, file_types

FILES, PLANTED = corpus()


def _survivors(text: str) -> list[str]:
    return [f"{p.kind} ({p.placement}, {p.path})" for p in PLANTED if any(f in text for f in p.fragments)]


def test_the_corpus_is_broad_enough():
    kinds = {p.kind for p in PLANTED}
    assert len(kinds) >= 40 and {p.placement for p in PLANTED} == {"code", "config"}
    assert all(sum(p.kind == kind for p in PLANTED) == 2 for kind in kinds)
    assert {"py", "js", "go", "yaml", "json", "env", "md", "Dockerfile", "sh", "toml"} <= file_types(PLANTED)
    assert all(f in FILES[p.path] for p in PLANTED for f in p.fragments)


def test_every_planted_secret_is_redacted_in_every_file_type():
    counts: Counter = Counter()
    redacted = {path: redact(text, counts) for path, text in FILES.items()}
    assert not _survivors("\n".join(redacted.values()))
    assert sum(counts.values()) >= len(PLANTED)
    # the engine's provider rules carry most of it: kinds named after its rules, not ours
    assert {"slack_webhook_url", "github_pat", "doppler_api_token", "age_secret_key"} <= set(counts), counts
    # and our own passes what no format rule knows
    assert {"password_in_prose", "password_assignment", "authorization_header", "url_credentials"} <= set(counts)


def test_the_analysis_keeps_no_planted_secret_in_any_field():
    files = [(path, detect_language(path, text.encode()[:128]), text.encode()) for path, text in FILES.items()]
    repo = analyze_repository([f for f in files if f[1]], "planted")
    assert not _survivors(json.dumps(repo.units)), "survived in the units"
    assert not _survivors(json.dumps(repo.edges, default=str)), "survived in the graph"
    assert sum(repo.stats["secrets_by_kind"].values()) >= len([p for p in PLANTED if detect_language(p.path)])


def test_a_secret_after_text_that_lowercases_longer_is_cut_at_its_own_place():
    token = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"
    text = f'title = "İstanbul 😀 Ünïcode"\nTOKEN = "{token}"  # password is Summer2024x\nend = 1\n'
    counts: Counter = Counter()
    out = redact(text, counts)
    assert out == ('title = "İstanbul 😀 Ünïcode"\nTOKEN = "[REDACTED:github_pat]"  '
                   "# password is [REDACTED:password_in_prose]\nend = 1\n")
    assert counts == {"github_pat": 1, "password_in_prose": 1}


def test_a_multi_line_key_keeps_the_line_count():
    key = next(p for p in PLANTED if p.kind == "rsa_private_key" and p.placement == "code")
    text = FILES[key.path]
    assert redact(text).count("\n") == text.count("\n")


@pytest.mark.parametrize("line", [
    'name = "perfectly_normal_identifier"\npassword = os.environ["PASSWORD"]\ncolor = "#ffffff"\n',
    "token_type = 'unstructured'\n",
    'tokenizer.add_special_tokens({"mask_token": "[MASK]"})\n',
    '"dependencies": {"js-tokens": "^4.0.0", "loose-envify": "^1.4.0"}\n',
    "npm login --scope=@mycorp --registry=https://registry.mycorp.com\n",
    '<a href="#generating-tokens">Generating tokens</a>\n',
    "# keep both ending timestamp tokens (see https://github.com/openai/whisper/pull/1483)\n",
    "secretName: repotune-s3\ntokenPath: /var/run/secrets/kubeflow/pipelines/token\n",
    "token = make_token()\npassword = self.password\napi_key: ${API_KEY}\n",
    "password: str = Field(..., min_length=12)\n",
    "See https://github.com/org/repo/commit/4f9e2a7c1b3d5e6f8a9b0c1d2e3f4a5b6c7d8e9f for the fix.\n",
    "expected name token at %r\" % rawdata[declstartpos:declstartpos+2]\n",
    "Basic authentication is described in RFC 7617.\n",
    "# The token is the first element of the pair.\n",
])
def test_ordinary_text_is_left_alone(line):
    assert redact(line) == line


def _lockfiles() -> dict[str, str]:
    """Lock files as package managers write them: digests that look like keys, versions under key-like names."""
    import base64
    import hashlib

    def integrity(name: str) -> str:
        return "sha512-" + base64.b64encode(hashlib.sha512(name.encode()).digest()).decode()

    packages = {f"node_modules/{name}": {"version": "4.0.0", "resolved": f"https://registry.npmjs.org/{name}/-/{name}-4.0.0.tgz",
                                          "integrity": integrity(name)} for name in ("js-tokens", "tokenize", "secret-handshake")}
    return {
        "package-lock.json": json.dumps({"name": "app", "lockfileVersion": 3, "packages": packages}, indent=2),
        "web/yarn.lock": "".join(f'{n}@^4.0.0:\n  version "4.0.0"\n  integrity {integrity(n)}\n\n' for n in ("js-tokens", "a")),
        "Cargo.lock": '[[package]]\nname = "secrecy"\nversion = "0.8.0"\nchecksum = "%s"\n' % hashlib.sha256(b"s").hexdigest(),
        "go.sum": "github.com/golang-jwt/jwt/v5 v5.2.0 h1:%s=\n" % base64.b64encode(hashlib.sha256(b"j").digest()).decode(),
        "poetry.lock": '[[package]]\nname = "keyring"\nversion = "24.0.0"\n[metadata]\ncontent-hash = "%s"\n'
                       % hashlib.sha256(b"p").hexdigest(),
        "uv.lock": 'version = 1\n[[package]]\nname = "pyjwt"\nsdist = { hash = "sha256:%s" }\n' % hashlib.sha256(b"u").hexdigest(),
    }


def test_lock_files_are_skipped_as_lockfile_and_nothing_in_them_is_redacted(tmp_path):
    root = tmp_path / "repo"
    for path, text in {**_lockfiles(), "app.py": "def main():\n    return 1\n"}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    found = discover(root, [], 10)  # a limit below every file: a lock file is still counted as one
    assert found.skipped["lockfile"] == len(_lockfiles())
    assert sorted(found.skipped_paths["lockfile"]) == sorted(_lockfiles())
    found = discover(root, [], 1_000_000)
    assert [path for path, _, _ in found.files] == ["app.py"]
    assert is_lockfile("deep/dir/Gemfile.lock") and is_lockfile("flake.lock") and not is_lockfile("lock.py")
    # what analysing them would have done (the commander.js: every integrity field redacted)
    assert redact(_lockfiles()["package-lock.json"]) != _lockfiles()["package-lock.json"]


def test_a_scan_that_gives_up_leaves_the_file_out(monkeypatch):
    real = secret_engine._scanner()

    class GivesUp:  # on the file's text only; the repository's own summaries scan as usual
        def scan(self, data, timeout=None):
            if b"SLOW" in data:
                raise TimeoutError("deadline")
            return real.scan(data, timeout=timeout)

    monkeypatch.setattr(secret_engine, "_scanner", lambda: GivesUp())
    result = analyze_file(b'SLOW = "anything"\n', "slow.py", "python")
    assert result.skip_reason == "secret_scan_timeout" and not result.units and not result.data
    repo = analyze_repository([("slow.py", "python", b"SLOW = 1\n"), ("ok.py", "python", b"x = 1\n")], "slow")
    assert repo.skipped == {"secret_scan_timeout": 1} and repo.skipped_paths == {"secret_scan_timeout": ["slow.py"]}


def test_rule_ids_become_kind_names():
    assert secret_engine.kind_of("betterleaks.github-pat") == "github_pat"
    assert secret_engine.kind_of("betterleaks.telnyx-api-v2-key.1") == "telnyx_api_v2_key"
    assert secret_engine.kind_of("veles.secrets/GCPAPIKey") == "secrets_gcpapikey"


def test_secret_made_by_rewriting_a_comment_is_redacted():
    """In the file the value is no assignment (a comment marker stands between); the docstring built from the
    comment joins the lines, which makes it one: the rewritten texts and the facts are redacted again."""
    code = '// password =\n// "Fake0Pass0Word"\nfunction connect(url) {\n  return url;\n}\n'
    repo = analyze_repository([("db.js", "javascript", code.encode())], "rewritten")
    connect = next(u for u in repo.units if u["name"] == "connect")
    assert "Fake0Pass0Word" not in connect["docstring"] and "[REDACTED:" in connect["docstring"]
    assert "Fake0Pass0Word" not in connect["facts"]


def _store_text(root) -> dict[str, str]:
    """Every object under a file:// store as text: Parquet decoded to rows, tar.gz to its members."""
    import pyarrow.parquet as pq

    texts = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.endswith(".parquet"):
            texts[str(path)] = json.dumps(pq.read_table(path).to_pylist(), default=str)
        elif path.name.endswith(".tar.gz"):
            with tarfile.open(path) as tar:
                texts[str(path)] = "".join(tar.extractfile(m).read().decode("utf-8", "replace")
                                           for m in tar.getmembers() if m.isfile())
        else:
            texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    return texts


def test_no_object_log_or_console_line_holds_a_planted_secret_after_a_full_run(tmp_path, caplog, capsys):
    from repotune.config import load_config
    from repotune.runs import Runner

    import shutil
    from importlib import resources

    source = tmp_path / "leaky"  # the bundled sample (enough for three splits), the corpus and a lock file
    with resources.as_file(resources.files("repotune").joinpath("samples", "tinyshop")) as sample:
        shutil.copytree(sample, source)
    for path, text in {**FILES, "package-lock.json": _lockfiles()["package-lock.json"]}.items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text(text)
    store = tmp_path / "store"
    config = load_config(overrides=[f"store.url=file://{store}", f"analyze.source={source}", "analyze.use_ray=false",
                                    "train.max_steps=2", "evaluate.max_examples=4", "evaluate.max_new_tokens=8"])
    caplog.set_level(logging.DEBUG)
    manifest = Runner(config).run()  # analyze to deploy: the adapter is served locally and answers one request
    assert {s["status"] for s in manifest["steps"].values()} == {"succeeded"} and len(manifest["steps"]) == 7
    texts = _store_text(store)
    assert all(any(f"/{step}/" in key for key in texts) for step in manifest["steps"])
    snapshot = next(text for key, text in texts.items() if key.endswith(".tar.gz"))
    assert "def step_0():" in snapshot and "[REDACTED:password_in_prose]" in snapshot
    analyze_stats = json.dumps(manifest["steps"]["analyze"])
    assert '"lockfile": 1' in analyze_stats or "skipped.lockfile" in analyze_stats, analyze_stats
    for key, text in texts.items():
        assert not _survivors(text), f"survived in {key}"
    captured = capsys.readouterr()
    assert not _survivors("\n".join(r.getMessage() for r in caplog.records) + captured.out + captured.err)
    assert not _survivors(json.dumps(manifest, default=str))


@pytest.mark.parametrize("text,kind,secret", [
    ("# staging db: user=deploy pass is Winter2026!x\n", "password_in_prose", "Winter2026!x"),
    ("SENTRY_DSN=https://4f9e2a7c1b3d5e6f8a9b0c1d2e3f4a5b@o12345.ingest.sentry.io/678\n", "url_token",
     "4f9e2a7c1b3d5e6f8a9b0c1d2e3f4a5b"),
    ('AUTHORIZATION = "Bearer SkFKOIPqZEaqkuIANyybUDRXZNSKLjygOkREFCjI"\n', "authorization_header",
     "SkFKOIPqZEaqkuIANyybUDRXZNSKLjygOkREFCjI"),  # letters only, mixed case: still a token
])
def test_shapes_found_beyond_the_corpus(text, kind, secret):
    counts: Counter = Counter()
    out = redact(text, counts)
    assert secret not in out and counts == {kind: 1}, (out, counts)


def test_the_word_pass_in_code_is_left_alone():
    code = "def f():\n    pass\n\nclass A:\n    pass  # nothing yet\nbypass = compass = 1\n"
    assert redact(code) == code
