"""harness/backends/local"""
