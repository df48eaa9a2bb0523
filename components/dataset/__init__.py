"""repotune.dataset"""
