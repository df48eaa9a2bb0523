"""Smoothed BLEU-4 (CodeXGLUE code-to-text) on hand-computed cases; the evaluate step and its gate."""

import json
import math

import pytest

from repotune.core.docstrings import docstring_summary
from repotune.evaluate.bleu import corpus_bleu, sentence_bleu
from repotune.evaluate.generation import generate_answers
from repotune.evaluate.scoring import (bootstrap_interval, gate, in_form, reference, score_by_kind, score_tasks,
                                       weakest_answers)


def test_identical_sentences_score_one():
    assert sentence_bleu(["the cat sat"], "the cat sat") == pytest.approx(1.0)


def test_smoothing_on_orders_two_to_four():
    # 1-grams 3/4 (no smoothing), 2-grams (1+1)/(3+1), 3-grams (0+1)/(2+1), 4-grams (0+1)/(1+1); no brevity penalty
    expected = math.exp((math.log(3 / 4) + math.log(2 / 4) + math.log(1 / 3) + math.log(1 / 2)) / 4)
    assert sentence_bleu(["a b c d"], "a b x d") == pytest.approx(expected) == pytest.approx(0.5)


def test_brevity_penalty_uses_lengths_plus_one():
    # all n-grams match; penalty exp(1 - (6 + 1) / (3 + 1))
    assert sentence_bleu(["a b c d e f"], "a b c") == pytest.approx(math.exp(1 - 7 / 4))


def test_lowercase_and_punctuation_split_and_shortest_reference():
    assert sentence_bleu(["Return X."], "return x .") == pytest.approx(1.0)
    # the shortest reference sets the penalty: the 3-word hypothesis is not penalised against a 3-word reference
    assert sentence_bleu(["a b c d e f", "a b c"], "a b c") == pytest.approx(1.0)


def test_corpus_score_is_the_mean_of_sentence_scores_times_100():
    refs, hyps = [["a b c d"], ["the cat sat"]], ["a b x d", "the cat sat"]
    assert corpus_bleu(refs, hyps) == pytest.approx(75.0)
    assert corpus_bleu([], []) == 0.0


def _example(task, answer, language="python"):
    return {"task": task, "language": language,
            "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": answer}]}


def test_code_tasks_get_exact_match_and_parse_rate():
    examples = [_example("doc2code", "def f():\n    return 1")]
    answers = ["def f():\n    return 1", "def f(:"]
    result = score_tasks(examples * 2, {"base": answers, "adapter": answers}, resamples=1000, seed=0)
    assert result["doc2code"]["base"]["exact_match"] == 0.5 and result["doc2code"]["base"]["parse_rate"] == 0.5


def test_code2doc_is_scored_against_the_docstrings_first_paragraph():
    doc = "Return the area of a circle.\n\n  :param r: the radius\n  :returns: the area"
    assert reference(_example("code2doc", doc)) == "Return the area of a circle."
    assert docstring_summary("Fetch   the\n    page.\nArgs:\n    url: where") == "Fetch the page."
    assert docstring_summary("Parameters\n----------\nx : int") == ""
    # an underlined title: a section's (tqdm's cli.main) is no summary; a module's title is one
    assert docstring_summary("Parameters (internal use only)\n    ---------\n    fp  : file-like") == ""
    assert docstring_summary("Progress helpers\n================\n\nThis module draws bars.") == "Progress helpers"
    assert docstring_summary("Explanation\n===========\n\nThe solution to the system.") == ""  # sympy's sections
    assert docstring_summary("Named Arguments\n===============\n\northo = False") == ""
    assert docstring_summary("Trim a string.\nSee Also\n--------\ndisp_len") == "Trim a string."
    result = score_tasks([_example("code2doc", doc)], {"base": ["Return the area of a circle."],
                                                         "adapter": ["x"]}, resamples=1000, seed=0)
    assert result["code2doc"]["base"]["bleu4"] == pytest.approx(100.0)


def test_every_task_has_n_an_interval_and_a_paired_difference():
    refs = [f"return the number {i} of the list" for i in range(30)]
    examples = [_example("code2doc", r) for r in refs] + [_example("repo_qa", "it holds the models")] * 5
    base = ["something else entirely"] * 35
    adapter = refs[:20] + ["the number of the list"] * 10 + ["it holds models"] * 5
    result = score_tasks(examples, {"base": base, "adapter": adapter}, resamples=1000, seed=0)
    assert set(result) == {"code2doc", "repo_qa"}  # each task apart, nothing mixed
    doc = result["code2doc"]
    assert doc["n"] == 30
    low, high = doc["adapter"]["ci95"]
    assert low < doc["adapter"]["bleu4"] < high
    d_low, d_high = doc["difference"]["ci95"]
    assert d_low < doc["difference"]["mean"] < d_high and d_low > 0
    assert doc["difference"]["mean"] == pytest.approx(doc["adapter"]["bleu4"] - doc["base"]["bleu4"], abs=0.01)
    again = score_tasks(examples, {"base": base, "adapter": adapter}, resamples=1000, seed=0)
    assert again == result  # seeded


def test_the_headline_is_also_scored_per_unit_kind():
    from repotune.evaluate.report import report_markdown

    def unit(kind, answer, task="code2doc"):
        return {**_example(task, answer), "unit_kind": kind}

    examples = [unit("method", "Open the connection."), unit("method", "Close the connection."),
                unit("class", "A pool of connections."), unit("file", "HTTP client helpers."),
                unit("function", "def f(): pass", task="doc2code"), _example("code2doc", "An old example.")]
    adapter = ["Open the connection.", "Close the connection.", "A queue.", "Client helpers.", "x", "y"]
    answers = {"base": ["Something else."] * 6, "adapter": adapter}
    by_kind = score_by_kind(examples, answers, resamples=200, seed=0)
    # the code2doc examples with a kind, one entry per kind; doc2code and a kind-less (older) example left out
    assert {k: v["n"] for k, v in by_kind.items()} == {"class": 1, "file": 1, "method": 2}
    assert by_kind["method"]["adapter"]["bleu4"] == pytest.approx(100.0)
    assert by_kind["class"]["adapter"]["bleu4"] < 50 and "difference" in by_kind["class"]
    tasks = score_tasks(examples, answers, resamples=200, seed=0)
    text = report_markdown(tasks, "ok", {"examples": 6, "test_split": 6}, by_kind=by_kind)
    assert "| method | 2 | " in text and "| file | 1 | " in text and "code2doc by unit kind" in text
    assert "by unit kind" not in report_markdown(tasks, "ok", {"examples": 6, "test_split": 6})


def test_the_weakest_headline_answers_come_lowest_first_with_their_paths():
    examples = [{**_example("code2doc", ref), "path": f"pkg/m{i}.py", "unit_kind": "method", "unit_id": f"u{i}"}
                for i, ref in enumerate(["Open the connection.", "Close the pool.", "Read one frame."])]
    examples.append({**_example("doc2code", "def f(): pass"), "path": "pkg/code.py"})  # not the headline
    answers = {"adapter": ["Open the connection.", "A queue.", "Read a frame.", "x"],
               "base": ["Something else."] * 4}
    weakest = weakest_answers(examples, answers, count=2)
    assert [w["path"] for w in weakest] == ["pkg/m1.py", "pkg/m2.py"]  # 0 answers exactly: not among the worst
    assert weakest[0]["bleu4_adapter"] < weakest[1]["bleu4_adapter"] < 100
    assert weakest[0] | {"bleu4_adapter": 0, "bleu4_base": 0} == {
        "path": "pkg/m1.py", "unit_id": "u1", "unit_kind": "method", "reference": "Close the pool.",
        "adapter": "A queue.", "base": "Something else.", "bleu4_adapter": 0, "bleu4_base": 0}


def test_bootstrap_interval_narrows_with_n_and_covers_the_mean():
    import random

    rng = random.Random(1)
    small = [rng.random() for _ in range(20)]
    large = [rng.random() for _ in range(2000)]
    s_low, s_high = bootstrap_interval(small, 1000, 0)
    l_low, l_high = bootstrap_interval(large, 1000, 0)
    assert s_low < sum(small) / 20 < s_high and l_low < sum(large) / 2000 < l_high
    assert (l_high - l_low) < (s_high - s_low) / 4


def test_gate_decides_on_the_lower_end_of_the_paired_interval():
    headline = {"n": 60, "difference": {"mean": 3.0, "ci95": [-0.5, 6.5]}}
    passed, line = gate(headline, 0.0)
    assert not passed and "lower end does not clear evaluate.min_improvement 0.0" in line and "\n" not in line
    passed, line = gate({"n": 60, "difference": {"mean": 3.0, "ci95": [1.2, 4.8]}}, 1.0)
    assert passed and line.startswith("gate passed")
    assert gate(headline, None)[0] is True
    assert gate(None, 1.0)[0] is False and gate(None, None)[0] is True


def test_answer_form_per_task():
    assert in_form("code2doc", "Return the area of a circle.", "python")
    assert not in_form("code2doc", "def area(r):\n    return 3.14 * r * r", "python")
    assert not in_form("code2doc", "```python\nx = 1\n```", "python")
    assert not in_form("code2doc", "", "python")
    assert in_form("code2tags", "http, json, client", None) and not in_form("code2tags", "a\nb", None)
    assert in_form("doc2code", "def f():\n    return 1", "python") and not in_form("doc2code", "def f(:", "python")


@pytest.mark.parametrize("num_beams", [1, 3])
def test_batched_answers_equal_one_at_a_time(tmp_path, num_beams):
    from repotune.core.store import open_store, StoreConfig
    from repotune.models import load_base_model

    import torch

    model, tokenizer = load_base_model("tiny", open_store(StoreConfig(url=f"file://{tmp_path}")), device="cpu")
    torch.manual_seed(0)
    with torch.no_grad():  # the untrained tiny model answers whitespace to everything; spread its weights out
        for p in model.parameters():
            p.normal_(0, 0.3)
    model.eval()
    prompts = ["short", "a somewhat longer prompt with more words in it", "def add(a, b): return a + b",
               "x " * 40, "Write the docstring", "one two three four five six"]
    examples = [{"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": ""}]}
                for p in prompts]
    alone = generate_answers(model, tokenizer, examples, max_new_tokens=12, batch_size=1, num_beams=num_beams)
    together = generate_answers(model, tokenizer, examples, max_new_tokens=12, batch_size=4, num_beams=num_beams)
    assert together == alone
    assert len(set(alone)) > 1  # the prompts lead to different answers: the comparison can fail


def test_gate_stops_before_deploy_after_writing_the_report(tmp_path):
    from repotune.config import load_config
    from repotune.core.errors import GateFailed
    from repotune.runs import Runner

    cfg = load_config(overrides=[f"store.url=file://{tmp_path}/s", "analyze.use_ray=false", "train.max_steps=4",
                                 "evaluate.max_examples=4", "evaluate.max_new_tokens=8",
                                 "evaluate.min_improvement=1000"])
    runner = Runner(cfg)
    with pytest.raises(GateFailed, match="lower end does not clear evaluate.min_improvement 1000"):
        runner.run(["analyze", "label", "synthesize", "dataset", "train", "evaluate"])
    report = json.loads(runner.store.get_bytes("runs/local/evaluate/eval.json"))
    assert report["passed"] is False and report["n"] == 4 and report["gate"].startswith("gate failed")
    assert set(report["bleu4"]) == {"base", "adapter", "retrieval"} and report["headline"]["task"] == "code2doc"
    assert report["retrieval"]["pool_size"] > 0 and "versus_retrieval" in report["headline"]
    answers = [json.loads(line) for line in runner.store.get_bytes("runs/local/evaluate/answers.jsonl").splitlines()]
    assert len(answers) == 4
    assert {"reference", "seen_reference", "base", "adapter", "retrieval", "retrieved_from", "unit_id", "unit_kind",
            "path"} <= set(answers[0])
    assert sum(k["n"] for k in report["headline_by_kind"].values()) == report["headline"]["n"]
    weakest = [w["bleu4_adapter"] for w in report["weakest"]]
    assert len(weakest) == min(8, report["headline"]["n"]) and weakest == sorted(weakest)
    assert "under `weakest`" in runner.store.get_bytes("runs/local/evaluate/eval.md").decode()
    seen = sum(a["seen_reference"] for a in answers)
    assert sum(t["seen_references"] for t in report["tasks"].values()) == seen
    assert sum(t["n"] for t in report["unseen"].values()) == 4 - seen


def test_a_reference_the_training_data_already_answers_is_reported_apart():
    from repotune.evaluate.report import report_markdown
    from repotune.evaluate.step import seen_references

    train = [_example("code2doc", "Open  the connection.\n\n:param x: y"), _example("repo_qa", "Close it.")]
    test = [_example("code2doc", "open the connection."), _example("code2doc", "Close it."),
            _example("repo_qa", "Close   it."), _example("code2doc", "Open the connection twice.")]
    assert seen_references(test, [train, []]) == [True, False, True, False]
    tasks = score_tasks(test, {"base": ["x"] * 4, "adapter": ["y"] * 4}, resamples=100, seed=0)
    unseen = score_tasks([test[1], test[3]], {"base": ["x"] * 2, "adapter": ["y"] * 2}, resamples=100, seed=0)
    tasks["code2doc"]["seen_references"], tasks["repo_qa"]["seen_references"] = 1, 1
    counts = {"examples": 4, "test_split": 4}
    assert "| code2doc, unseen references | 2 |" in report_markdown(tasks, "ok", counts, unseen)
    # none seen: the subset is the whole task, and its row would only repeat the task's own
    tasks["code2doc"]["seen_references"] = 0
    assert "unseen references |" not in report_markdown(tasks, "ok", counts, unseen)


def test_evaluation_spread_over_ray_workers_matches_one_process(tmp_path, ray_local):
    from repotune.config import load_config
    from repotune.runs import Runner

    overrides = [f"store.url=file://{tmp_path}/s", "analyze.use_ray=false", "train.max_steps=4",
                 "evaluate.max_examples=8", "evaluate.max_new_tokens=8"]
    runner = Runner(load_config(overrides=overrides))
    runner.run(["analyze", "label", "synthesize", "dataset", "train", "evaluate"])
    alone = json.loads(runner.store.get_bytes("runs/local/evaluate/eval.json"))
    events = []
    spread = Runner(load_config(overrides=[*overrides, "evaluate.num_workers=2", "evaluate.cpus_per_worker=0.5"]),
                    on_event=lambda step, event, record: events.append((step, event)))
    spread.run(["evaluate"])
    together = json.loads(spread.store.get_bytes("runs/local/evaluate/eval.json"))
    assert together["samples"] == alone["samples"] and together["bleu4"] == alone["bleu4"]
    assert together["n"] == alone["n"] >= 4
    assert events == [("evaluate", "started"), ("evaluate", "succeeded")]  # it ran again, on Ray
