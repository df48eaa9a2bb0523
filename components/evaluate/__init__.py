"""repotune.evaluate"""
