"""Test-wide configuration: the real-service fixtures live in tests/services."""

pytest_plugins = [
    "tests.services.fixtures",
    "tests.services.sshd",
    "tests.services.netns",
    "tests.services.docker",
    "tests.services.prometheus",
    "tests.services.keyring",
]
