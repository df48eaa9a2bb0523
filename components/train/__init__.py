"""repotune.train"""
