"""Shared fixtures. Each plugin module is owned by one part of the suite."""

pytest_plugins = [
    "tests.plugins.env",
    "tests.plugins.factories",
    "tests.plugins.smtp",
    "tests.plugins.prefect",
    "tests.plugins.web",
    "tests.plugins.processes",
    "tests.plugins.browser",
]
