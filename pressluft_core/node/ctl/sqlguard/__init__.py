"""The pre-check every SQL dump passes before it is imported into an environment (issue 18).

    python3 <sha>-pressluft-node.pyz sqlguard [--check]   < dump.sql   > dump.sql (filtered)

Standard library only: part of the node package and run on nodes as a filter in the
import pipeline (as the environment's own user; it only reads stdin and writes stdout).
It reads the dump statement by statement, the way the ``mariadb`` client splits it (quotes,
comments, ``/*! … */`` executable comments, backslash commands), and

* refuses, naming the statement and its line, anything outside a WordPress data dump:
  other databases (``USE`` of a second one, ``DROP/ALTER DATABASE``, ``db.table`` names),
  users and privileges, server files (``INTO OUTFILE/DUMPFILE``, ``LOAD DATA``,
  ``LOAD_FILE``), plugins, server administration, dynamic SQL, views, triggers and stored
  programs (``DEFINER``), client commands, and SQL modes that change how it must be read;
* drops, saying so, what a ``mysqldump --databases`` dump of one database adds (its
  ``CREATE DATABASE`` and ``USE``) and MySQL's replication lines (``SQL_LOG_BIN``,
  ``GTID_PURGED``), so the rest lands in the environment's own database.

The guarantee is least privilege (the import runs as the environment's MariaDB user, see
docs/security.md); this check is the clear message before anything changes.
Exit status: 0 clean, 2 refused (the reason on stderr as ``sqlguard: refused: …``).

Modules: :mod:`.rules` (what is refused, dropped or allowed), :mod:`.scanner` (the
statement splitter), :mod:`.guard` (the verdicts and the command line).
"""
