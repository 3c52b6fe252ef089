"""Reports of a scenario run: JUnit XML, a Markdown summary, a self-contained
HTML page with each scenario's topology, and the results JSON that
``harness coverage`` reads."""
