"""The mutant kit: deliberately broken meta-plugins that a suite must catch.

A conformance suite is only as good as the bugs it notices. Each mutant is
the meta-plugin under test (pymultus by default) with one small source edit
(:mod:`harness.mutants.catalog`); ``harness mutants run`` runs the scenario
suite against each and reports ``caught N/M`` and the survivors. See
docs/mutants.md.
"""
