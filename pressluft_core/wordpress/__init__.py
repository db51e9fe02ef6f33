"""WordPress-specific helpers that also run on nodes.

Modules here that are shipped to nodes (``search_replace``) are single, dependency-free files
that import nothing from ``pressluft_core``, so they can be copied over and run with whatever
``python3`` (≥ 3.9) the node has.
"""
