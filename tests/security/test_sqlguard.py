"""The SQL check every imported dump passes (``pressluft_core/node/ctl/sqlguard``, issue 18):
each hostile statement is refused naming its line, what mysqldump adds for other databases
is dropped with a note, and the verdict never depends on where the stream is cut."""

from __future__ import annotations

import subprocess

import pytest

from pressluft_core.node.bundle import command as node_command
from pressluft_core.node.ctl.sqlguard import guard as sqlguard

CHUNKS = (1, 3, 7, 64, 1 << 20)
TABLE = b"CREATE TABLE `wp_options` (`option_id` bigint, `v` longtext);\n"


def guard(dump: bytes, chunk: int = 1 << 20) -> tuple[bytes, list[str]]:
    out: list[bytes] = []
    notes: list[str] = []
    checker = sqlguard.DumpGuard(out.append, notes.append)
    for start in range(0, len(dump), chunk):
        checker.feed(dump[start:start + chunk])
    checker.close()
    return b"".join(out), notes


HOSTILE = [
    (b"USE `wpother`;\nDROP TABLE `wp_posts`;\nUSE `wpthird`;\n", 3, "second database"),
    (b"DROP DATABASE `wpother`;\n", 1, "drops a database"),
    (TABLE + b"USE `wpother`;\nDROP TABLE `wp_posts`;\n", 2, "after the dump wrote tables"),
    (b"CREATE USER 'evil'@'%' IDENTIFIED BY 'x';\n", 1, "database user"),
    (b"ALTER USER 'root'@'localhost' IDENTIFIED BY 'x';\n", 1, "database user"),
    (b"DROP USER 'wpother'@'localhost';\n", 1, "database user"),
    (b"GRANT ALL ON *.* TO 'wpself'@'localhost';\n", 1, "privileges"),
    (b"REVOKE ALL ON *.* FROM 'x'@'%';\n", 1, "privileges"),
    (b"SET PASSWORD FOR 'root'@'localhost' = PASSWORD('x');\n", 1, "password"),
    (b"INSTALL PLUGIN sys_exec SONAME 'lib_mysqludf_sys.so';\n", 1, "plugin"),
    (b"SELECT '<?php system($_GET[1]);' INTO OUTFILE '/var/www/x.php';\n", 1, "OUTFILE"),
    (b"SELECT 1 INTO DUMPFILE '/tmp/pwned-dump';\n", 1, "OUTFILE/DUMPFILE"),
    (b"LOAD DATA INFILE '/etc/shadow' INTO TABLE wp_options;\n", 1, "loads a file"),
    (b"LOAD DATA LOCAL INFILE '/etc/shadow' INTO TABLE wp_options;\n", 1, "loads a file"),
    (TABLE + b"INSERT INTO `wp_options` VALUES (1, LOAD_FILE('/etc/shadow'));\n", 2,
     "LOAD_FILE"),
    (b"UPDATE mysql.global_priv SET priv = '{}';\n", 1, "another database"),
    (b"INSERT INTO `wpother`.`wp_users` VALUES (1,'x');\n", 1, "another database"),
    (b"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER t "
     b"BEFORE INSERT ON wp_options FOR EACH ROW SET NEW.v = 1 */;\n", 1, "trigger"),
    (b"CREATE DEFINER=`root`@`localhost` PROCEDURE p() SELECT 1;\n", 1, "stored program"),
    (b"/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=`root`@`localhost` SQL "
     b"SECURITY DEFINER */ /*!50001 VIEW `v` AS SELECT 1 */;\n", 1, "view"),
    (b"CREATE EVENT e ON SCHEDULE EVERY 1 MINUTE DO DROP DATABASE x;\n", 1, "event"),
    (b"DELIMITER ;;\n", 1, "stored programs"),
    (b"\\! touch /tmp/pwned-shell\n", 1, "client command \\!"),
    (TABLE + b"INSERT INTO `wp_options` VALUES (1,'a'); \\! id\n", 2, "client command"),
    (b"system touch /tmp/pwned-system\n", 1, "client command 'system'"),
    (b"source /etc/mysql/debian.cnf\n", 1, "client command 'source'"),
    (b"/*M!999999\\! touch /tmp/pwned-sandbox */\n", 1, "client command"),
    (b"PREPARE s FROM @q;\n", 1, "dynamic SQL"),
    (b"SET GLOBAL general_log_file = '/var/www/x.php';\n", 1, "global server variable"),
    (b"SET sql_mode = 'NO_BACKSLASH_ESCAPES';\n", 1, "NO_BACKSLASH_ESCAPES"),
    (b"SET @OLD_SQL_MODE = 'ANSI_QUOTES';\n", 1, "@OLD_SQL_MODE"),
    (b"SET NAMES gbk;\n", 1, "character set gbk"),
    (b"CREATE TABLE t (a int) DATA DIRECTORY = '/etc';\n", 1, "DATA/INDEX DIRECTORY"),
    (b"\n\n-- a comment\nSHUTDOWN;\n", 4, "administers"),
    (TABLE + b"INSERT INTO `wp_options` VALUES (1,'never closed);\n", 2, "quoted string"),
]


@pytest.mark.parametrize(("dump", "line", "why"), HOSTILE,
                         ids=[case[0][:40].decode(errors="replace") for case in HOSTILE])
@pytest.mark.parametrize("chunk", CHUNKS)
def test_hostile_statements_are_refused_naming_the_line(
        dump: bytes, line: int, why: str, chunk: int) -> None:
    with pytest.raises(sqlguard.Refused, match=f"^line {line}: .*{_re(why)}"):
        guard(dump, chunk)


def _re(text: str) -> str:
    import re
    return re.escape(text)


HONEST = (
    b"/*M!999999\\- enable the sandbox mode */ \n"
    b"-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n"
    b"/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n"
    b"/*!40101 SET NAMES utf8mb4 */;\n"
    b"/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;\n/*!40103 SET TIME_ZONE='+00:00' */;\n"
    b"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n"
    b"DROP TABLE IF EXISTS `wp_options`;\n"
    b"/*!40101 SET @saved_cs_client     = @@character_set_client */;\n"
    b"CREATE TABLE `wp_options` (\n  `option_id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,"
    b"\n  `option_value` longtext NOT NULL,\n  PRIMARY KEY (`option_id`)\n) ENGINE=InnoDB;\n"
    b"LOCK TABLES `wp_options` WRITE;\n/*!40000 ALTER TABLE `wp_options` DISABLE KEYS */;\n"
    b"INSERT INTO `wp_options` VALUES (1,'http://old.example; DROP DATABASE x; -- \\' USE y;'),"
    b"(2,'a:1:{s:3:\\\"url\\\";s:18:\\\"http://old.example\\\";}'),(3,'it''s'),"
    b"(4,_binary 'x\\0y'),(5,NULL),(6,'GRANT ALL INTO OUTFILE LOAD_FILE('),(-7,'\\\\');\n"
    b"/*!40000 ALTER TABLE `wp_options` ENABLE KEYS */;\nUNLOCK TABLES;\n"
    b"/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n"
    b"-- Dump completed on 2026-12-06 20:00:00\n"
)


@pytest.mark.parametrize("chunk", CHUNKS)
def test_an_honest_dump_passes_byte_for_byte(chunk: int) -> None:
    out, notes = guard(HONEST, chunk)
    assert out == HONEST and notes == []


@pytest.mark.parametrize("chunk", CHUNKS)
def test_a_databases_dump_loses_its_create_database_and_use_lines_with_a_note(
        chunk: int) -> None:
    dump = (b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop` /*!40100 DEFAULT CHARACTER SET "
            b"utf8mb4 */;\n\nUSE `shop`;\n" + HONEST)
    out, notes = guard(dump, chunk)
    assert out == b"\n" + HONEST  # the blank lines before USE went with it
    assert len(notes) == 1 and "'shop'" in notes[0] and "dropped" in notes[0]


def test_mysql_replication_lines_are_dropped() -> None:
    dump = (b"SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN;\nSET @@SESSION.SQL_LOG_BIN= 0;"
            b"\nSET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'uuid:1-5';\n" + TABLE)
    out, notes = guard(dump)
    assert out.strip() == TABLE.strip() and "GTID_PURGED" in notes[0]


def test_the_command_line_filter_exits_2_with_the_reason_and_writes_nothing_after_it() -> None:
    done = subprocess.run(node_command("sqlguard"),
                          input=TABLE + b"GRANT ALL ON *.* TO 'x'@'%';\n" + TABLE,
                          capture_output=True)
    assert done.returncode == 2
    assert done.stdout == TABLE.rstrip(b"\n")  # the newline starts the refused statement
    assert b"sqlguard: refused: line 2:" in done.stderr and b"privileges" in done.stderr


def test_a_large_insert_streams_through_without_being_held() -> None:
    row = b"(1,'" + b"x" * 1000 + b"'),"
    dump = b"INSERT INTO `wp_options` VALUES " + row * 20000 + b"(2,'y');\n"
    sent: list[int] = []
    checker = sqlguard.DumpGuard(lambda data: sent.append(len(data)))
    for start in range(0, len(dump), 1 << 16):
        checker.feed(dump[start:start + (1 << 16)])
        assert sum(sent) >= start - (1 << 17)  # never more than ~a chunk behind
    checker.close()
    assert sum(sent) == len(dump)
