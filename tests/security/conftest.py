"""The real-stack ``stack`` fixture (tests/wordpress/stack.py) for the hostile-input corpus."""

from tests.wordpress.stack import stack_fixture  # noqa: F401
