"""repotune.deploy"""
