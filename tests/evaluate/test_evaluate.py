"""Smoothed BLEU-4 (CodeXGLUE code-to-text) on hand-computed cases; the evaluate step and its gate."""

import json
import math

import pytest

from repotune.evaluate.bleu import corpus_bleu, sentence_bleu
from repotune.evaluate.step import score


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


def test_code_tasks_get_exact_match_and_parse_rate():
    examples = [{"task": "doc2code", "language": "python",
                 "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "def f():\n    return 1"}]}]
    result = score(examples * 2, ["def f():\n    return 1", "def f(:"])
    assert result["doc2code"]["exact_match"] == 0.5 and result["doc2code"]["parse_rate"] == 0.5


def test_gate_stops_before_deploy_after_writing_the_report(tmp_path):
    from repotune.config import load_config
    from repotune.errors import GateFailed
    from repotune.runs import Runner

    cfg = load_config(overrides=[f"store.url=file://{tmp_path}/s", "analyze.use_ray=false", "train.max_steps=4",
                                 "evaluate.max_examples=4", "evaluate.max_new_tokens=8",
                                 "evaluate.min_improvement=1000"])
    runner = Runner(cfg)
    with pytest.raises(GateFailed, match="improvement .* < evaluate.min_improvement 1000"):
        runner.run(["analyze", "label", "synthesize", "dataset", "train", "evaluate"])
    report = json.loads(runner.store.get_bytes("runs/local/evaluate/eval.json"))
    assert report["passed"] is False and report["n"] == 4
    assert set(report["bleu4"]) == {"base", "adapter"}


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
