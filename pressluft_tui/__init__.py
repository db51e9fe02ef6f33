"""The Pressluft console (Textual). Talks to :mod:`pressluft_core` services only."""
