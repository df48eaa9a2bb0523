"""repotune.analyze"""
