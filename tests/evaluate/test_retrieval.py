"""The retrieval baseline: answers copied from the nearest train/val example, scored and gated like a model."""

import pytest

from repotune.evaluate.report import report_markdown, retrieval_line
from repotune.evaluate.retrieval import NearestNeighbours, retrieval_answers, subtokens
from repotune.evaluate.scoring import gate, score_tasks


def _example(task, prompt, answer, path="pkg/a.py"):
    return {"task": task, "path": path, "unit_id": f"id-{prompt[:8]}", "language": "python",
            "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


def test_identifiers_split_into_lowercase_pieces():
    assert subtokens("def fetchPage(self, max_retries): HTTPError") == [
        "def", "fetch", "page", "self", "max", "retries", "httperror"]


def test_each_answer_is_copied_from_the_most_similar_example_of_its_task():
    pool = [_example("code2doc", "def open_connection(host, port): sock.connect",
                     "Open a connection.\n\n:param host: x", "net/conn.py"),
            _example("code2doc", "def read_frame(stream): header = stream.read(2)", "Read one frame.", "net/frames.py"),
            _example("doc2code", "Open a connection to host and port.", "def open_connection(): ...", "net/x.py"),
            # closer to the second test prompt than any code2doc example, but of another task: never copied
            _example("doc2code", "Read frames from a stream: read_frames(stream), read_frame(stream)",
                     "def read_frames(stream): ...", "net/y.py")]
    test = [_example("code2doc", "async def openConnection(host, port, ssl): await sock.connect", "Open it."),
            _example("code2doc", "def read_frames(stream): return [read_frame(stream)]", "Read frames."),
            _example("repo_qa", "What opens a connection?", "open_connection")]
    answers, sources = retrieval_answers(test, pool)
    # the code2doc reference is the docstring's summary; a task the pool lacks gets no answer
    assert answers == ["Open a connection.", "Read one frame.", ""]
    assert sources[0] == {"path": "net/conn.py", "unit_id": pool[0]["unit_id"]} and sources[2] is None


def test_ties_go_to_the_first_pool_example_and_disjoint_prompts_get_none():
    pool = [_example("code2doc", "def alpha(): pass", "First."), _example("code2doc", "def alpha(): pass", "Second.")]
    index = NearestNeighbours(pool)
    assert index.nearest(_example("code2doc", "alpha", "")) == 0
    assert index.nearest(_example("code2doc", "zeta omega", "")) is None


def test_the_adapter_is_scored_against_retrieval_and_can_be_gated_on_it():
    refs = ["Open the connection.", "Close the pool.", "Read one frame.", "Write the headers."] * 5
    examples = [_example("code2doc", f"def f{i}(): pass", r) for i, r in enumerate(refs)]
    answers = {"base": ["Something else entirely."] * 20, "adapter": refs[:10] + ["A queue."] * 10,
               "retrieval": refs}  # retrieval copies every reference: the adapter falls short of it
    headline = score_tasks(examples, answers, resamples=1000, seed=0)["code2doc"]
    versus = headline["versus_retrieval"]
    assert versus["mean"] == pytest.approx(headline["adapter"]["bleu4"] - headline["retrieval"]["bleu4"], abs=0.01)
    assert versus["ci95"][1] < 0 < headline["difference"]["ci95"][0]
    assert gate(headline, 0.0)[0] is True
    passed, line = gate(headline, 0.0, against="retrieval")
    assert not passed and "adapter − retrieval" in line and "\n" not in line
    assert "falls short of it" in retrieval_line(headline)
    text = report_markdown({"code2doc": headline}, line, {"examples": 20, "test_split": 20})
    assert "falls short of it" in text and "| code2doc (headline) | 20 |" in text
    without = score_tasks(examples, {m: answers[m] for m in ("base", "adapter")}, resamples=1000, seed=0)
    assert "versus_retrieval" not in without["code2doc"] and retrieval_line(without["code2doc"]) == ""
