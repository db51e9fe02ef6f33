"""``check-dns``: the A records of a host name from a given resolver (a small DNS client:
nodes have no ``dig``) or the system's.
"""

from __future__ import annotations

import ipaddress
import random
import re
import socket
import struct

from .._common import Failed, Refused, say
from .names import hostname

# -- DNS ------------------------------------------------------------------------------------

def parse_resolver(value: object) -> tuple[str, int] | None:
    """``None``/empty: the system resolver; else ``ip``, ``ip:port`` or ``[ipv6]:port``."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise Refused(f"resolver {value!r} is not host:port")
    match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::([0-9]{1,5}))?|([0-9.]+)(?::([0-9]{1,5}))?"
                         r"|([0-9a-fA-F:]+)", value)
    if not match:
        raise Refused(f"resolver {value!r} is not an IP address with an optional :port")
    host = match.group(1) or match.group(3) or match.group(5)
    port = int(match.group(2) or match.group(4) or 53)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise Refused(f"resolver {value!r} is not an IP address with an optional :port"
                      ) from None
    if not 0 < port < 65536:
        raise Refused(f"resolver port {port} is not a port number")
    return host, port


# socket.timeout is TimeoutError only from Python 3.10 on; nodes may run 3.9.
SOCKET_TIMEOUTS = (TimeoutError, getattr(socket, "timeout", TimeoutError))
RCODES = {1: "FORMERR", 2: "SERVFAIL", 4: "NOTIMP", 5: "REFUSED"}


def dns_query(name: str, server: tuple[str, int], qtype: int = 1,
              timeout: float = 3.0) -> tuple[int, list[tuple[str, int, bytes]]]:
    """One recursive query; (rcode, answer records as (owner, type, rdata or name))."""
    ident = random.randrange(1 << 16)
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) \
        + b"\0" + struct.pack(">HH", qtype, 1)
    packet = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    reply = b""
    for attempt in range(3):
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.sendto(packet, server)
                while True:
                    reply, _ = sock.recvfrom(65535)
                    if len(reply) >= 12 and struct.unpack(">H", reply[:2])[0] == ident:
                        break
                break
            except SOCKET_TIMEOUTS:
                if attempt == 2:
                    raise Failed(f"the DNS resolver {server[0]}:{server[1]} did not answer "
                                 f"within {timeout:g} s (3 tries)") from None
            except OSError as exc:
                raise Failed(f"the DNS resolver {server[0]}:{server[1]} cannot be asked: "
                             f"{exc}") from None
    if struct.unpack(">H", reply[2:4])[0] & 0x0200:  # truncated: ask again over TCP
        with socket.create_connection(server, timeout=timeout) as conn:
            conn.sendall(struct.pack(">H", len(packet)) + packet)
            size = struct.unpack(">H", _recv_exactly(conn, 2))[0]
            reply = _recv_exactly(conn, size)
    return _parse_reply(reply)


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise Failed("the DNS resolver closed the TCP connection early")
        data += chunk
    return data


def _read_name(reply: bytes, offset: int) -> tuple[str, int]:
    labels, end, jumps = [], None, 0
    while True:
        length = reply[offset]
        if length & 0xC0 == 0xC0:  # compression pointer
            if end is None:
                end = offset + 2
            offset = struct.unpack(">H", reply[offset:offset + 2])[0] & 0x3FFF
            jumps += 1
            if jumps > 64:
                raise Failed("malformed DNS reply (pointer loop)")
            continue
        offset += 1
        if length == 0:
            break
        labels.append(reply[offset:offset + length].decode("ascii", "replace").lower())
        offset += length
    return ".".join(labels), (end if end is not None else offset)


def _parse_reply(reply: bytes) -> tuple[int, list[tuple[str, int, bytes]]]:
    try:
        flags, qdcount, ancount = struct.unpack(">HHH", reply[2:8])
        offset = 12
        for _ in range(qdcount):
            _, offset = _read_name(reply, offset)
            offset += 4
        answers = []
        for _ in range(ancount):
            owner, offset = _read_name(reply, offset)
            rtype, _, _, length = struct.unpack(">HHIH", reply[offset:offset + 10])
            offset += 10
            rdata = reply[offset:offset + length]
            if rtype == 5:  # CNAME: keep the target name
                rdata = _read_name(reply, offset)[0].encode()
            answers.append((owner, rtype, rdata))
            offset += length
    except (struct.error, IndexError) as exc:
        raise Failed(f"malformed DNS reply: {exc}") from None
    return flags & 0x000F, answers


def resolve_a(name: str, server: tuple[str, int] | None) -> list[str]:
    """IPv4 addresses of ``name`` (CNAMEs followed); [] when it has none (NXDOMAIN too)."""
    if server is None:
        try:
            infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        except socket.gaierror:
            return []
        return sorted({str(info[4][0]) for info in infos})
    target, seen = name, set()
    for _ in range(8):
        rcode, answers = dns_query(target, server)
        if rcode == 3:
            return []
        if rcode:
            raise Failed(f"the DNS resolver {server[0]}:{server[1]} answered "
                         f"{RCODES.get(rcode, rcode)} for {target}")
        chain = {target}
        changed = True
        while changed:  # the owners reachable from the name through CNAMEs in this answer
            changed = False
            for owner, rtype, rdata in answers:
                if rtype == 5 and owner in chain and rdata.decode() not in chain:
                    chain.add(rdata.decode())
                    changed = True
        found = sorted({socket.inet_ntoa(rdata) for owner, rtype, rdata in answers
                        if rtype == 1 and owner in chain and len(rdata) == 4})
        if found:
            return found
        cnames = [rdata.decode() for owner, rtype, rdata in answers
                  if rtype == 5 and owner in chain and rdata.decode() not in seen]
        if not cnames:
            return []
        seen |= chain
        target = cnames[-1]
    raise Failed(f"{name}: more than 8 CNAMEs in a row")


def cmd_check_dns(data: dict) -> dict:
    host = hostname(data.get("hostname"))
    server = parse_resolver(data.get("resolver"))
    addresses = resolve_a(host, server)
    where = f"{server[0]}:{server[1]}" if server else "the system resolver"
    say(f"{host} A {', '.join(addresses) or '(none)'} (asked {where})")
    return {"addresses": addresses, "resolver": where}
