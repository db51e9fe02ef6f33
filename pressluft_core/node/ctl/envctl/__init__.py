"""Node-side work on one WordPress environment (DESIGN.md §6, §7), run as root.

    python3 <sha>-pressluft-node.pyz envctl <command>   < input.json

Part of the node package (standard library only, run by the nodes' ``python3`` >= 3.9).
Inputs arrive as JSON on stdin and reach commands only as argv lists, never as shell text.
Human lines go to stdout (streamed into the job log); the last line is ``result: {json}``.
Every command is idempotent, so a retried job step finds finished work and moves on.
Exit status: 0 done, 1 failed (the reason on stderr), 2 bad input.

Layout (``env_dir`` = ``<sites_root>/<site_id>/<environment_id>``)::

    env_dir/              0750 root:<user>   (www-data is in <user>'s group to serve files)
      releases/<name>/    root-owned, immutable: PHP cannot change its own code
      current -> releases/<name>
      shared/wp-config.php  0400 <user>      (no other account reads the credentials)
      shared/uploads/     0750 <user>        (nginx refuses to run PHP from here)
      tmp/ logs/ mail/    0700 <user>

Modules: :mod:`.cli` (commands, exit codes), :mod:`.env` (inputs, the environment's
database client), :mod:`.files`, :mod:`.config`, :mod:`.layout` (prepare, activate,
remove), :mod:`.health`, :mod:`.drift`, :mod:`.clone`, :mod:`.sqlcopy` and :mod:`.rewrite`
(same-server copies), :mod:`.deploy`, :mod:`.backup`, :mod:`.restore`, :mod:`.importing`,
:mod:`.promote`.
"""
