"""Serialized-safe, streaming URL rewrite of a mysqldump stream.

Usage (on a node, in a pipe, or locally)::

    python3 <sha>-pressluft-node.pyz search-replace [--stats] [--jobs N] OLD NEW [OLD2 NEW2 ...]
    python -m pressluft_core.wordpress.search_replace OLD NEW < in.sql > out.sql

Part of the node package (``pressluft_core/node/ctl``, shipped as one zipapp) and run by the
nodes' ``python3`` (>= 3.9): standard library only, importing nothing from
``pressluft_core`` (the control plane imports it through the thin
``pressluft_core.wordpress.search_replace``). Modules: :mod:`.forms`, :mod:`.fields`,
:mod:`.engine`, :mod:`.parallel`, :mod:`.cli`. Exit status: 0 done, 2 bad
arguments (usage on stderr), 1 output closed early, 3 a worker process failed (the output
is then incomplete). ``--stats`` reports replacements and peak memory on stderr.

Rules (the tests pin each of them):

* Bytes in, bytes out. Nothing is decoded; bytes that are not rewritten are copied verbatim.
  Matching is case-sensitive, as in ``sed``.
* Forms. Each OLD is looked for as given and, when it contains ``/``, JSON-escaped
  (``https:\\/\\/old.example``, which mysqldump writes ``https:\\\\/\\\\/old.example``).
  When OLD and NEW are both URLs (``scheme://…`` or ``//…``), the protocol-relative forms
  ``//old.example…`` and ``\\/\\/old.example…`` become NEW's ``//…`` part too: with OLD
  ``http://old.example``, ``https://old.example`` becomes ``https://new.example`` (the
  scheme that was written stays). A bare host (``old.example`` without ``//``, as in an
  e-mail address) is rewritten only when given as a pair of its own.
* One pass, left to right. Where several forms match at one place the longest wins (the
  full URL before its protocol-relative part); inserted text is never matched again, so
  pairs apply simultaneously, not one after the other.
* Boundaries. Host characters are ``[A-Za-z0-9.-]``. When OLD ends with one, a match must
  not be followed by ``[A-Za-z0-9-]`` nor by ``.`` + ``[A-Za-z0-9-]``: ``old.example.org``,
  ``old.example-cdn`` and, for OLD ``http://old.example/sub``, ``…/subdir`` stay, while
  ``old.example.`` ending a sentence, ``old.example:8080`` and ``old.example/x`` match.
  When OLD starts with a host character and has no ``scheme://``, a match must not follow a
  host character: ``bold.example`` and ``www.old.example`` stay (a mysqldump escape such as
  ``\\n`` right before counts as the newline it stands for). Forms starting with
  ``scheme://`` or ``//`` carry their own delimiter and are not checked before.
* Serialized data is recognised where WordPress keeps it: an SQL string literal whose value
  is serialized, i.e. starts (after whitespace, which WordPress trims) with ``a:``, ``O:``,
  ``s:``, ``C:`` or ``E:`` and a digit. Elsewhere text is plain, whatever it looks like:
  WordPress would not unserialize it either. In a serialized value every length-prefixed
  token that encloses a match gets its ``<len>`` recomputed: strings (array keys too)
  ``s:<len>:"<len bytes>";``, class names ``O:<len>:"<class>":``, enum cases
  ``E:<len>:"<Enum:Case>";``, custom objects ``C:<len>:"<class>":<len>:{<len bytes>}``
  (both lengths), and ``S:<len>:"…";`` strings without ``\\xx`` escapes (PHP reads ``S:``,
  never writes it; one with escapes is treated as malformed, and a replacement bringing a
  backslash into one is skipped). A string whose content is itself a serialized value, or a
  ``C:`` payload, is treated the same way, recursively, so serializations nested in
  serialized strings come out right; any other string content is plain text. ``<len>``
  counts *unescaped* bytes: each mysqldump escape (``\\'`` ``\\"``
  ``\\\\`` ``\\n`` ``\\r`` ``\\0`` ``\\Z`` ``\\t``, any ``\\x``) is one byte, except ``\\%``
  and ``\\_`` which MySQL keeps as two; a doubled quote (``''`` in ``'…'``, ``""`` in
  ``"…"``) is one. A header counts only if exactly ``<len>`` bytes later the token closes
  (``";``, ``":``, ``}``) inside its literal.
* Quotes. String literals may be single-quoted (mysqldump) or double-quoted (mydumper, or
  mysqldump-like dumps without ANSI_QUOTES); both are handled alike, with the same escapes.
  A line's quote is that of its first value: the first quote after an INSERT's ``VALUES``,
  or on a row continued on a line of its own (``(…)`` or ``,(…)``); ``'`` on any other line
  (DDL, comments). ANSI ``"identifiers"`` before ``VALUES`` do not count. Dump tools write
  one quote per line; on a hand-made line mixing them, a match after a literal in the other
  quote that looks serialized is left as it is and counted as skipped, never rewritten
  without its length. Why handled, not refused: refusing needs the same knowledge (which
  quote a literal is in) as handling, and finding it costs one search per line that needs
  it; a tokenizer that tracked literals from each line's start would have run at about
  50 MB/s, slower than all the rest. Where a value may start is found for both quotes by
  one search, for the ``:`` of its ``a:1``: a search per quote cost about a quarter more
  CPU in one process on the benchmark's dump (measured in-process, 2026-12-07).
* Malformed serialized data is never "fixed" and never given a wrong length. If a header
  between the start of a serialized value (or serialized string content) and a match does
  not add up — wrong length, truncated, or byte counts that differ from the database's
  after a charset conversion — that match and the rest of that value are left as they are,
  and counted as skipped (reported on stderr).
* Streaming: blocks of whole lines are rewritten (a mysqldump literal never spans lines),
  so memory is bounded by the block size plus the longest line. A block without any OLD
  host is written through after one search.
* Processes: ``--jobs N`` (default: 2 where ``fork`` exists and two cores are free to run
  them, else 1) processes rewrite blocks in turn and write them in input order; the output
  is byte for byte the same whatever N. Each holds its own block, so memory is N times one
  process's.

Speed: the work is done by the regex engine and bytes methods, a Python loop turn per
match. A match is plain text, taken in a few steps, unless a quote that may open a
serialized value lies between it and the previous one; only then is its literal looked at.
One process runs at about half sed's speed on a WordPress dump (``python -m bench
search_replace``); two take it past that. In the clone pipeline the import into MariaDB,
many times slower than either, sets the pace: the second process mostly waits there.
"""

