"""repotune.kfp: the KFP pipeline definitions."""
