"""repotune.label"""
