"""repotune.serve"""
