"""The CNI wiretap: every CNI call on a node, recorded by wrapping the binaries."""
