"""Core services, one module per resource. See :mod:`pressluft_core.services.base`."""
