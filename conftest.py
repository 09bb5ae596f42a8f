# The opt-in pytest plugin for every test tree in this repository. pytest only accepts
# `pytest_plugins` in the top-level conftest, so it is declared once here rather than in
# each distribution's tests/ (which would break a run over several trees at once).
pytest_plugins = ["mcollective.testing.pytest_plugin"]
