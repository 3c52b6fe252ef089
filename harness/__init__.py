"""harness: a network simulation and conformance harness for CNI meta-plugins and plugins."""
