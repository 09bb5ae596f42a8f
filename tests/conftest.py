pytest_plugins = ["mcollective.testing.pytest_plugin"]
