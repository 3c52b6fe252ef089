"""harness/scenario"""
