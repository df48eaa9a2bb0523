"""repotune.pipelines: the KFP pipeline definitions."""
