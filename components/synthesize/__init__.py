"""repotune.synthesize"""
