"""The ``stack`` fixture (tests/wordpress/stack.py) for every end-to-end module here."""

from tests.wordpress.stack import stack_fixture  # noqa: F401
