"""pymultus/kube"""
