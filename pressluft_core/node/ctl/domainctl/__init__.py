"""Node-side work on custom domains and their certificates (DESIGN.md §7), run as root.

    python3 <sha>-pressluft-node.pyz domainctl <command>   < input.json

Part of the node package (standard library only, run by the nodes' ``python3`` >= 3.9),
the same conventions as envctl: inputs as JSON on stdin, reaching commands only as
argv lists; human lines on stdout; the last line is ``result: {json}``; every command is
idempotent. Exit status: 0 done, 1 failed (the reason on stderr), 2 bad input.

Commands:

- ``check-dns``: the A records of a host name, from a given resolver (``host:port``, a
  small DNS client here: nodes have no ``dig``) or the system's.
- ``issue``: a certificate from an ACME server through certbot, HTTP-01 ``--webroot`` in
  the ACME root every server block (and the 444 default server) serves challenges from.
- ``configure``: one nginx file per environment with a server block per domain: port 80
  answers challenges and redirects to https; port 443 (only once a certificate exists)
  serves WordPress for the domains named in ``serve`` and redirects every other one to
  ``redirect_to``. Tested with ``nginx -t`` and reloaded (never restarted); the previous
  file is put back when the test fails.
- ``remove-cert``: the certificate of a host name, through ``certbot delete``.
- ``expiry``: the ``notAfter`` date of each named host's certificate (``openssl x509``).
- ``stage-url-rewrite``: the environment's database with one URL rewritten to another, in
  the scratch database ``envctl restore-swap`` swaps in (``restore-undo`` swaps back).
- ``inspect-config``: table prefix, quarantine and WP-Cron of the environment's
  ``wp-config.php``, so rewriting it for a new URL changes nothing else.
- ``reload-php``: a graceful PHP-FPM reload, so opcache forgets the old ``wp-config.php``.
- ``issue-wildcard``: ``*.<preview domain>`` through DNS-01 (a webhook or a certbot DNS
  plugin); ``dns01-hook set|clear CONFIG`` is the webhook's certbot hook.

Modules: :mod:`.cli`, :mod:`.names`, :mod:`.dns`, :mod:`.certs`, :mod:`.nginx`, :mod:`.urls`.
"""
