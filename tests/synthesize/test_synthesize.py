"""Template queries, weighted sampling, conditions, quality checks and the tuning loop."""

import json
import random
from collections import Counter, defaultdict

import pytest

from repotune.core.errors import ConfigError
from repotune.label.config import LabelConfig
from repotune.label.step import label_units
from repotune.synthesize.quality import NearDuplicates, label_quality
from repotune.synthesize.step import synthesize, updated_weights
from repotune.synthesize.templates import load_templates
from repotune.synthesize.tokens import DomainTokens
from tests.label.conftest import SAMPLE, units_of


@pytest.fixture(scope="module")
def sample():
    from repotune.analyze.discover import discover
    from repotune.analyze.step import analyze_repository

    files = [f for f in discover(SAMPLE, [], 1_000_000).files if f[1]]
    repo = analyze_repository(files, "tinyshop")
    labels = {r["unit_id"]: r for r in label_units(repo.units, LabelConfig(), None)}
    return repo.units, labels, repo.edges


def run(sample, **kw):
    units, labels, edges = sample
    args = {"seed": 0, "pairs_per_unit": 2, "max_code_chars": 4000, "near_duplicate_threshold": 0.9, **kw}
    return synthesize(units, labels, edges, load_templates(), {}, **args)


def test_every_shipped_template_loads_and_renders(sample):
    templates = load_templates()
    assert {t.task for t in templates} == {"code2doc", "doc2code", "code2tags", "repo_qa"}
    units, labels, edges = sample
    model_labels = {k: {**v, "source": "llm"} for k, v in labels.items()}  # as an endpoint's labels are marked
    pairs, _ = run((units, model_labels, edges), pairs_per_unit=4)
    assert {p["template_id"] for p in pairs} == {t.id for t in templates}


def _share_a_rule_answers(pairs, by_id):
    """The share of responses that some other unit of the same kind and language has too: a rule that reads only
    kind and language can be right on those, and only on those."""
    groups = defaultdict(Counter)
    for p in pairs:
        groups[(by_id[p["unit_id"]]["kind"], by_id[p["unit_id"]]["language"])][p["response"]] += 1
    return sum(n for c in groups.values() for n in c.values() if n > 1) / len(pairs)


def test_no_default_template_answer_is_a_function_of_kind_and_language(sample):
    units, labels, _ = sample
    by_id = {u["unit_id"]: u for u in units}
    pairs, skipped = run(sample, pairs_per_unit=4)
    assert skipped["offline_labels"] > 0 and not any(p["task"] == "code2tags" for p in pairs)
    assert {p["task"] for p in pairs} >= {"code2doc", "doc2code", "repo_qa"}
    for template_id in {p["template_id"] for p in pairs}:
        made = [p for p in pairs if p["template_id"] == template_id]
        assert _share_a_rule_answers(made, by_id) <= 0.1, template_id
    # what the check catches: the offline interpreter's tags, which code2tags no longer trains on
    offline_tags = [{"unit_id": u, "response": ", ".join(r["tags"])} for u, r in labels.items()
                    if by_id[u]["kind"] in ("function", "method", "class")]
    assert _share_a_rule_answers(offline_tags, by_id) > 0.5


def test_code2doc_pairs_for_every_documented_unit_with_first_paragraph_answers(sample):
    """Functions, methods, classes and modules; a unit longer than max_code_chars keeps its code2doc pair (the
    prompt shows its head) and loses only the templates that show its whole code."""
    units, _, _ = sample
    by_id = {u["unit_id"]: u for u in units}
    documented = {u["unit_id"] for u in units if u["kind"] in ("function", "method", "class", "file")
                  and u["docstring"] and not u["duplicate_of"]}
    assert {by_id[u]["kind"] for u in documented} == {"function", "method", "class", "file"}
    pairs, _ = run(sample, pairs_per_unit=1)
    code2doc = {p["unit_id"]: p for p in pairs if p["task"] == "code2doc"}
    assert set(code2doc) == documented
    for p in code2doc.values():
        assert "\n\n" not in p["response"] and p["response"] == " ".join(p["response"].split())
        assert p["response"] not in p["instruction"]  # the answer is not in the question
        assert "Example" not in p["instruction"] and "one-sentence summary" in p["instruction"]
        unit = by_id[p["unit_id"]]  # where the unit lives: its file and its name within it (Class.method)
        if unit["kind"] == "file":
            assert f"The module `{unit['path']}`:" in p["instruction"]
            continue
        name = unit["qualified_name"].rpartition("::")[2]
        assert f"`{name}` in `{unit['path']}`" in p["instruction"] and name.endswith(unit["name"])
    assert any("." in p["instruction"].split("`")[1] for p in code2doc.values())  # a method shows its class

    limit = 400
    long_units = {u for u in documented if len(by_id[u]["code"]) > limit}
    cut_pairs, skipped = run(sample, pairs_per_unit=4, max_code_chars=limit)
    assert long_units and {p["unit_id"] for p in cut_pairs if p["task"] == "code2doc"} == documented
    assert not any(p["unit_id"] in long_units for p in cut_pairs if p["task"] != "code2doc")
    assert skipped["code_too_long"] >= len(long_units)


def test_sampling_follows_the_weights():
    tokens = DomainTokens({"identifier": Counter({"a": 1, "b": 2, "c": 7})})
    rng = random.Random(1)
    n = 20_000
    counts = Counter(tokens.sample("identifier", rng) for _ in range(n))
    expected = {"a": 0.1 * n, "b": 0.2 * n, "c": 0.7 * n}
    chi2 = sum((counts[k] - e) ** 2 / e for k, e in expected.items())
    assert chi2 < 13.8  # chi-square, 2 degrees of freedom, p = 0.001
    assert tokens.sample("identifier", random.Random(5)) == tokens.sample("identifier", random.Random(5))
    assert tokens.sample("missing", rng) is None


def test_reproducible_and_conditions_land_in_targets(sample):
    first, skipped = run(sample)
    assert run(sample)[0] == first
    conditioned = [p for p in first if p["condition"]]
    assert conditioned, "doc2code pairs carry a condition"
    for p in conditioned:
        assert p["target"] and f"`{p['target']}`" in p["condition"] and p["target"] in p["response"]
    assert skipped["condition_unsatisfiable"] > 0  # units that call nothing internal cannot satisfy it


def test_static_checks_reject_unparsable_code_and_unknown_names():
    dups = NearDuplicates(0.9)
    broken = {"task": "doc2code", "instruction": "write f", "response": "def f(:\n  return", "target": None}
    assert label_quality(broken, "python", {"f"}, dups)["checks"]["parses"] is False
    unknown = {"task": "doc2code", "instruction": "write g", "target": None,
               "response": "def g(items):\n    for x in items:\n        frobnicate(x)\n    return len(items)\n"}
    quality = label_quality(unknown, "python", {"g"}, dups)
    assert quality["checks"]["unknown_names"] == ["frobnicate"] and quality["ok"] is False
    again = label_quality({**unknown, "response": unknown["response"]}, "python", {"g", "frobnicate"}, dups)
    assert again["checks"]["near_duplicate"] is True


def test_templates_fingerprint_follows_the_template_text(tmp_path):
    from repotune.synthesize.templates import templates_fingerprint

    packaged = templates_fingerprint()
    assert templates_fingerprint() == packaged and len(packaged) == 16
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "mine.yaml").write_text("id: mine\ntask: code2doc\napplies_to: [function]\ndynamic: d\nresponse: r\n")
    with_extra = templates_fingerprint(str(extra))
    assert with_extra != packaged
    (extra / "mine.yaml").write_text("id: mine\ntask: code2doc\napplies_to: [function]\ndynamic: e\nresponse: r\n")
    assert templates_fingerprint(str(extra)) not in (packaged, with_extra)


def test_weights_move_toward_pass_rates():
    templates = load_templates()
    pairs = [{"template_id": "doc2code-v1", "quality_ok": ok} for ok in (True, False, False, False)]
    weights = updated_weights(templates, {}, pairs, learning_rate=0.5)
    assert weights["doc2code-v1"] == pytest.approx(1.0 * (1 - 0.5 * 0.75))
    assert weights["code2doc-v5"] == 1.0  # no evidence, no change


@pytest.mark.parametrize("text,error", [
    ("id: x\ntask: code2doc\napplies_to: [function]\ndynamic: '{{ nope }}'\nresponse: r\n", "unknown placeholder"),
    ("id: x\ntask: code2doc\napplies_to: [function\n", "invalid YAML"),
    ("id: x\ntask: poetry\napplies_to: [function]\ndynamic: d\nresponse: r\n", "is not one of"),
    ("id: x\ntask: doc2code\napplies_to: [function]\ndynamic: d\nresponse: r\ncondition: 'use {{ datum }}'\n",
     "needs condition_tokens"),
    ("id: x\ntask: code2doc\napplies_to: [function]\ndynamic: d\nresponse: r\nalways: true\nshortend_code: true\n",
     "unknown key.s. shortend_code"),
])
def test_bad_templates_are_clear_errors(tmp_path, text, error):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError, match=error):
        load_templates(str(tmp_path))


def test_repository_without_functions_is_a_clear_error(tmp_path):
    from repotune.config import load_config
    from repotune.core.errors import StepError
    from repotune.runs import Runner

    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "settings.py").write_text("DEBUG = True\n")
    cfg = load_config(overrides=[f"store.url=file://{tmp_path}/s", f"analyze.source={tmp_path}/repo",
                                 "analyze.use_ray=false"])
    with pytest.raises(StepError, match="no functions, methods or classes"):
        Runner(cfg).run(["analyze", "label", "synthesize"])
    assert units_of(tmp_path / "repo")  # analyze itself was fine
    assert json.loads("[]") == []


def test_a_code2doc_prompt_never_contains_its_answer(sample):
    pairs, _ = run(sample, pairs_per_unit=4)
    code2doc = [p for p in pairs if p["task"] == "code2doc"]
    assert code2doc
    for pair in code2doc:
        question = pair["instruction"].split("Example output:", 1)[-1]  # past the few-shot example
        assert pair["response"].splitlines()[0] not in question, pair["unit_id"]
