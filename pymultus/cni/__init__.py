"""The CNI protocol: requests, results, versions, errors, plugin invocation.

Knows nothing of Kubernetes. Standard library only (it is on the CNI path).
"""
