"""repotune.evaluate: base vs adapter on held-out units; smoothed BLEU-4 as CodeXGLUE defines it, per task with
bootstrap intervals; a gate on the headline task (code2doc)."""

from repotune.evaluate.bleu import corpus_bleu, sentence_bleu
from repotune.evaluate.step import run_step

__all__ = ["corpus_bleu", "run_step", "sentence_bleu"]
