"""repotune.evaluate: base vs adapter on held-out units; smoothed BLEU-4 as CodeXGLUE defines it; a gate."""

from repotune.evaluate.bleu import corpus_bleu, sentence_bleu
from repotune.evaluate.step import run_step

__all__ = ["corpus_bleu", "run_step", "sentence_bleu"]
