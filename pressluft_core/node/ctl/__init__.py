"""The code that runs on nodes: envctl (an environment's work), domainctl (domains and
certificates), the serialized-safe URL replacer and sqlguard (the SQL check of imported
dumps), with what envctl and domainctl share in :mod:`._common`.

Standard library only, Python >= 3.9 (Debian 12 has 3.11), importing nothing from
``pressluft_core`` (its modules import each other relatively): the control plane builds
it into one zipapp (:mod:`pressluft_core.node.bundle`) and uploads that once per node
and version; ``python3 <sha16>-pressluft-node.pyz TOOL …`` runs a tool (:mod:`.main`).
"""
