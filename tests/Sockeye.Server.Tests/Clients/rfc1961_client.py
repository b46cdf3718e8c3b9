#!/usr/bin/python3
"""A SOCKS5 client with GSSAPI authentication (RFC 1961) on Debian's python3-gssapi (MIT Kerberos underneath).

It offers only method X'01', establishes a Kerberos security context with the proxy's service principal
(SERVICE@SERVICE_HOST, a host-based service name), negotiates a protection level, and then, at level 1 (integrity),
2 (confidentiality) or 3 (selective), wraps every byte it sends and unwraps every byte it receives on the TCP
connection in [01 03 LEN token] messages, reassembling the plaintext across messages; at level 0 the SOCKS5 request
and the tunnel are plain. UDP ASSOCIATE datagrams are wrapped whole at levels 1-3.

Kerberos is configured by the environment only (KRB5_CONFIG, KRB5CCNAME): the ticket-granting ticket must be in the
credential cache already (kinit).

Exit codes (a message on standard error says what happened):
  0  success
  2  bad command line
  3  protocol error: the connection failed or closed early, or the server sent something RFC 1928/1961 do not allow
  4  the server accepted no method offered (X'05 FF')
  5  the local GSSAPI library failed (no ticket, unknown service principal, a token that does not verify)
  6  the server aborted the GSSAPI exchange (X'01 FF')
  7  the server's SOCKS reply was not X'00' (succeeded)
  8  the protection level the server granted is less than the one asked for
  9  timed out
  10 the destination's answer was not the expected one (HTTP status other than 200, UDP echo from elsewhere)
"""

import argparse
import hashlib
import ipaddress
import socket
import struct
import sys
import threading

import gssapi

EXIT_OK = 0
EXIT_PROTOCOL = 3
EXIT_NO_METHOD = 4
EXIT_GSSAPI = 5
EXIT_ABORTED = 6
EXIT_REPLY = 7
EXIT_LEVEL = 8
EXIT_TIMEOUT = 9
EXIT_TARGET = 10

LEVELS = {"none": 0, "integrity": 1, "confidentiality": 2, "selective": 3}
LEVEL_NAMES = {value: name for name, value in LEVELS.items()}

MTYP_CONTEXT = 1
MTYP_PROTECTION = 2
MTYP_ENCAPSULATED = 3
MTYP_ABORT = 0xFF
ABORT = bytes([1, MTYP_ABORT])

MAX_CONTEXT_ROUNDS = 4
MAX_TOKEN = 65535
# Plaintext per message: leaves room for gss_wrap's header, confounder and checksum within LEN's 65535.
MAX_CHUNK = MAX_TOKEN - 512
# --fragment: messages of these plaintext sizes in turn, so the SOCKS request itself spans several messages.
FRAGMENT_SIZES = (1, 2, 5, 300, 4096, MAX_CHUNK)

REPLY_CODES = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


class Failure(Exception):
    """Ends the run with an exit code and a message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def rank(level):
    """How much protection a level gives: selective (3) protects no more than confidentiality (2) does."""
    return min(level, 2)


def parse_endpoint(text):
    """HOST:PORT or [IPV6]:PORT."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"not HOST:PORT: {text!r}")
    return host, int(port)


def encode_address(host, port):
    """ATYP, DST.ADDR and DST.PORT of RFC 1928 for host (an IP address literal or a name) and port."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")
        if not 0 < len(name) < 256:
            raise Failure(EXIT_PROTOCOL, f"host name too long for SOCKS5: {host!r}")
        return bytes([3, len(name)]) + name + struct.pack(">H", port)
    atyp = 1 if address.version == 4 else 4
    return bytes([atyp]) + address.packed + struct.pack(">H", port)


def describe(data):
    return data.hex(" ") if data else "nothing"


class Connection:
    """The TCP connection to the proxy, read in exact amounts, before any per-message protection."""

    def __init__(self, sock):
        self.sock = sock
        self.pending = bytearray()

    def send(self, data):
        self.sock.sendall(data)

    def fill(self):
        """Reads once more into pending; False at the end of the stream."""
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.pending += chunk
        return True

    def take(self, count, what):
        while len(self.pending) < count:
            if not self.fill():
                raise Failure(EXIT_PROTOCOL,
                              f"the server closed the connection where {what} was expected "
                              f"(received {describe(bytes(self.pending))})")
        data = bytes(self.pending[:count])
        del self.pending[:count]
        return data

    def read_gssapi_message(self, what):
        """One RFC 1961 message: (MTYP, token). The abort X'01 FF' ends the run."""
        header = self.take(2, what)
        if header == ABORT:
            raise Failure(EXIT_ABORTED, f"the server aborted (X'01 FF') where {what} was expected")
        if header[0] != 1:
            raise Failure(EXIT_PROTOCOL, f"VER X'{header[0]:02X}' where {what} (VER X'01') was expected")
        (length,) = struct.unpack(">H", self.take(2, what))
        return header[1], self.take(length, what)

    def send_gssapi_message(self, mtyp, token):
        if len(token) > MAX_TOKEN:
            raise Failure(EXIT_PROTOCOL, f"a token of {len(token)} bytes does not fit an RFC 1961 message")
        self.send(bytes([1, mtyp]) + struct.pack(">H", len(token)) + token)

    def abort(self):
        """Sends the abort, best effort: the run is failing already."""
        try:
            self.send(ABORT)
        except OSError:
            pass


class Channel:
    """The connection after the protection level: plain at level 0, else every byte in wrapped X'03' messages.

    send() may run on one thread while recv() runs on another; wrap and unwrap share the context, so they take a lock.
    """

    def __init__(self, connection, context, level, fragment):
        self.connection = connection
        self.context = context
        self.level = level
        self.fragment = fragment
        self.lock = threading.Lock()
        self.plaintext = bytearray()
        self.sizes = 0
        self.eof = False
        if level == 0:
            # Nothing is wrapped from here on: what already arrived is the start of the plain stream.
            self.plaintext += connection.pending
            connection.pending.clear()

    def wrap(self, data):
        with self.lock:
            result = self.context.wrap(data, self.level >= 2)
        if self.level >= 2 and not result.encrypted:
            raise Failure(EXIT_GSSAPI, "gss_wrap did not encrypt at a confidentiality level")
        return result.message

    def unwrap(self, token, what):
        with self.lock:
            result = self.context.unwrap(token)
        if self.level == 2 and not result.encrypted:
            raise Failure(EXIT_PROTOCOL, f"{what} arrived not encrypted at level 2 (confidentiality)")
        return result.message

    def next_size(self):
        if not self.fragment:
            return MAX_CHUNK
        size = FRAGMENT_SIZES[self.sizes % len(FRAGMENT_SIZES)]
        self.sizes += 1
        return size

    def send(self, data):
        data = memoryview(data)
        if self.level == 0:
            self.connection.send(data)
            return
        offset = 0
        while offset < len(data):
            chunk = bytes(data[offset:offset + self.next_size()])
            token = self.wrap(chunk)
            while len(token) > MAX_TOKEN:
                chunk = chunk[:len(chunk) // 2]
                token = self.wrap(chunk)
            self.connection.send_gssapi_message(MTYP_ENCAPSULATED, token)
            offset += len(chunk)

    def fill(self, what):
        """Adds at least one byte of plaintext; False at the end of the stream (at a message boundary)."""
        if self.eof:
            return False
        if self.level == 0:
            chunk = self.connection.sock.recv(65536)
            if not chunk:
                self.eof = True
                return False
            self.plaintext += chunk
            return True
        if not self.connection.pending and not self.connection.fill():
            self.eof = True
            return False
        mtyp, token = self.connection.read_gssapi_message(what)
        if mtyp != MTYP_ENCAPSULATED:
            raise Failure(EXIT_PROTOCOL, f"MTYP X'{mtyp:02X}' where an encapsulated message (X'03') with {what} was expected")
        message = self.unwrap(token, what)
        if not message:
            raise Failure(EXIT_PROTOCOL, f"an encapsulated message with no plaintext where {what} was expected")
        self.plaintext += message
        return True

    def take(self, count, what):
        while len(self.plaintext) < count:
            if not self.fill(what):
                raise Failure(EXIT_PROTOCOL,
                              f"the server closed the connection where {what} was expected "
                              f"(received {describe(bytes(self.plaintext))})")
        data = bytes(self.plaintext[:count])
        del self.plaintext[:count]
        return data

    def read_line(self, what):
        while True:
            end = self.plaintext.find(b"\r\n")
            if end >= 0:
                return self.take(end + 2, what)[:-2]
            if len(self.plaintext) > 65536:
                raise Failure(EXIT_TARGET, f"a line longer than 64 KiB in {what}")
            if not self.fill(what):
                raise Failure(EXIT_PROTOCOL, f"the connection ended inside {what}")

    def read_to_end(self, what):
        while self.fill(what):
            pass
        data = bytes(self.plaintext)
        self.plaintext.clear()
        return data


def read_reply(channel, what):
    """A SOCKS5 reply; returns (REP, BND.ADDR, BND.PORT)."""
    head = channel.take(4, what)
    if head[0] != 5:
        raise Failure(EXIT_PROTOCOL, f"VER X'{head[0]:02X}' in {what}: {describe(head)}")
    atyp = head[3]
    if atyp == 1:
        address = str(ipaddress.IPv4Address(channel.take(4, what)))
    elif atyp == 4:
        address = str(ipaddress.IPv6Address(channel.take(16, what)))
    elif atyp == 3:
        address = channel.take(channel.take(1, what)[0], what).decode("idna")
    else:
        raise Failure(EXIT_PROTOCOL, f"ATYP X'{atyp:02X}' in {what}: {describe(head)}")
    (port,) = struct.unpack(">H", channel.take(2, what))
    return head[1], address, port


def check_reply(reply, what):
    code = reply[0]
    if code != 0:
        raise Failure(EXIT_REPLY, f"the server answered {what} with REP X'{code:02X}' ({REPLY_CODES.get(code, 'unassigned')})")


def authenticate(connection, args):
    """Greeting, security context (RFC 1961 §3) and protection level (§4); returns (context, granted level)."""
    connection.send(bytes([5, 1, 1]))
    choice = connection.take(2, "the method selection")
    if choice == bytes([5, 0xFF]):
        raise Failure(EXIT_NO_METHOD, "the server accepted no method offered (X'05 FF'): it does not do GSSAPI")
    if choice != bytes([5, 1]):
        raise Failure(EXIT_PROTOCOL, f"method selection {describe(choice)} where X'05 01' (GSSAPI) was expected")

    asked = LEVELS[args.level]
    flags = gssapi.RequirementFlag.integrity
    if not args.no_mutual:
        flags |= gssapi.RequirementFlag.mutual_authentication
    if asked >= 2:
        flags |= gssapi.RequirementFlag.confidentiality
    target = f"{args.service}@{args.service_host}"
    try:
        name = gssapi.Name(target, gssapi.NameType.hostbased_service)
        context = gssapi.SecurityContext(name=name, usage="initiate", mech=gssapi.MechType.kerberos, flags=flags)
        token = None
        for _ in range(MAX_CONTEXT_ROUNDS):
            output = context.step(token)
            if output:
                connection.send_gssapi_message(MTYP_CONTEXT, output)
            if context.complete:
                break
            mtyp, token = connection.read_gssapi_message("the server's context token")
            if mtyp != MTYP_CONTEXT:
                raise Failure(EXIT_PROTOCOL, f"MTYP X'{mtyp:02X}' where a context token (X'01') was expected")
        else:
            raise Failure(EXIT_GSSAPI, f"no security context after {MAX_CONTEXT_ROUNDS} rounds")
        if not args.no_mutual and not context.actual_flags & gssapi.RequirementFlag.mutual_authentication:
            raise Failure(EXIT_GSSAPI, "the context completed without the mutual authentication asked for")

        if args.nec:
            connection.send_gssapi_message(MTYP_PROTECTION, bytes([asked]))
        else:
            connection.send_gssapi_message(MTYP_PROTECTION, context.wrap(bytes([asked]), False).message)
        mtyp, token = connection.read_gssapi_message("the protection level answer")
        if mtyp != MTYP_PROTECTION:
            raise Failure(EXIT_PROTOCOL, f"MTYP X'{mtyp:02X}' where the protection level (X'02') was expected")
        level = token if args.nec else context.unwrap(token).message
    except gssapi.exceptions.GSSError as error:
        connection.abort()
        raise Failure(EXIT_GSSAPI, f"GSSAPI failed for {target}: {error}") from error
    except Failure as failure:
        if failure.code not in (EXIT_ABORTED, EXIT_PROTOCOL):
            connection.abort()
        raise

    if len(level) != 1:
        connection.abort()
        raise Failure(EXIT_PROTOCOL, f"a protection level of {len(level)} bytes: {describe(level)}")
    granted = level[0]
    if granted not in LEVEL_NAMES or rank(granted) < rank(asked):
        connection.abort()
        raise Failure(EXIT_LEVEL,
                      f"the server granted protection level {granted} ({LEVEL_NAMES.get(granted, 'undefined')}), "
                      f"less than {asked} ({args.level}) asked for")
    print(f"rfc1961_client: authenticated as {context.initiator_name} to {context.target_name}, "
          f"protection level {granted} ({LEVEL_NAMES[granted]}) granted", file=sys.stderr)
    return context, granted


def output(args, body):
    if args.digest:
        sys.stdout.write(f"{len(body)} {hashlib.sha256(body).hexdigest()}\n")
    else:
        sys.stdout.buffer.write(body)
    sys.stdout.flush()


def pattern(count):
    """The bytes --body-bytes sends: byte i is (i * 31 + 7) mod 256, the pattern of Sockeye's test origin."""
    block = bytes((i * 31 + 7) & 0xFF for i in range(256))
    return (block * (count // 256 + 1))[:count]


def read_http_response(channel):
    """Status, headers and body (Content-Length, chunked, or to the end of the connection); the status must be 200."""
    status = channel.read_line("the HTTP status line").decode("latin-1")
    headers = {}
    while True:
        line = channel.read_line("the HTTP headers").decode("latin-1")
        if not line:
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    parts = status.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or parts[1] != "200":
        raise Failure(EXIT_TARGET, f"the destination answered {status!r}")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            size = int(channel.read_line("a chunk size").split(b";")[0], 16)
            if size == 0:
                while channel.read_line("the trailer"):
                    pass
                return bytes(body)
            body += channel.take(size, "a chunk")
            if channel.take(2, "a chunk's end") != b"\r\n":
                raise Failure(EXIT_TARGET, "a chunk not followed by CRLF")
    if "content-length" in headers:
        return channel.take(int(headers["content-length"]), "the HTTP body")
    return channel.read_to_end("the HTTP body")


def run_connect(channel, args):
    host, port = args.connect
    channel.send(bytes([5, 1, 0]) + encode_address(host, port))
    check_reply(read_reply(channel, "the CONNECT reply"), "CONNECT")
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    if args.get is not None:
        channel.send(f"GET {args.get} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: rfc1961_client\r\n"
                     "Connection: close\r\n\r\n".encode("latin-1"))
        output(args, read_http_response(channel))
        return

    if args.post is not None:
        body = pattern(args.body_bytes)
        head = (f"POST {args.post} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: rfc1961_client\r\n"
                f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode("latin-1")
        # The destination may answer while the body is still going out (an echo does): send on a thread of its own.
        problems = []

        def send_all():
            try:
                channel.send(head + body)
            except (Failure, OSError, gssapi.exceptions.GSSError) as error:
                problems.append(error)

        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        try:
            answer = read_http_response(channel)
        finally:
            sender.join(args.timeout)
        if sender.is_alive():
            raise Failure(EXIT_TIMEOUT, "the request body was not sent within the timeout")
        if problems:
            raise problems[0]
        output(args, answer)
        return

    channel.send(args.send.encode("utf-8"))
    output(args, channel.read_to_end("the destination's answer"))


def run_udp(connection, channel, args):
    family = socket.AF_INET6 if ":" in connection.sock.getsockname()[0] else socket.AF_INET
    udp = socket.socket(family, socket.SOCK_DGRAM)
    try:
        udp.settimeout(args.timeout)
        udp.bind((connection.sock.getsockname()[0], 0))
        local_host, local_port = udp.getsockname()[:2]
        channel.send(bytes([5, 3, 0]) + encode_address(local_host, local_port))
        code, relay_host, relay_port = read_reply(channel, "the UDP ASSOCIATE reply")
        check_reply((code,), "UDP ASSOCIATE")
        if ipaddress.ip_address(relay_host).is_unspecified:
            relay_host = connection.sock.getpeername()[0]
        relay = (relay_host, relay_port)
        header = bytes([0, 0, 0]) + encode_address(*args.udp)
        for text in args.datagram:
            datagram = header + text.encode("utf-8")
            if channel.level >= 1:
                token = channel.wrap(datagram)
                datagram = bytes([1, MTYP_ENCAPSULATED]) + struct.pack(">H", len(token)) + token
            udp.sendto(datagram, relay)
            while True:
                answer, source = udp.recvfrom(65536)
                if source[0] == relay[0] and source[1] == relay[1]:
                    break
            if channel.level >= 1:
                if len(answer) < 4 or answer[:2] != bytes([1, MTYP_ENCAPSULATED]) or \
                        struct.unpack(">H", answer[2:4])[0] != len(answer) - 4:
                    raise Failure(EXIT_PROTOCOL, f"a datagram from the relay that is no X'01 03' message: {describe(answer[:16])}")
                answer = channel.unwrap(answer[4:], "a datagram from the relay")
            print_datagram(answer)
    finally:
        udp.close()


def print_datagram(answer):
    if len(answer) < 4 or answer[:3] != bytes([0, 0, 0]):
        raise Failure(EXIT_PROTOCOL, f"a datagram from the relay without a SOCKS UDP header: {describe(answer[:16])}")
    atyp = answer[3]
    if atyp == 1:
        address, rest = str(ipaddress.IPv4Address(answer[4:8])), answer[8:]
    elif atyp == 4:
        address, rest = str(ipaddress.IPv6Address(answer[4:20])), answer[20:]
    elif atyp == 3:
        length = answer[4]
        address, rest = answer[5:5 + length].decode("idna"), answer[5 + length:]
    else:
        raise Failure(EXIT_PROTOCOL, f"ATYP X'{atyp:02X}' in a datagram from the relay")
    if len(rest) < 2:
        raise Failure(EXIT_PROTOCOL, "a datagram from the relay cut short")
    (port,) = struct.unpack(">H", rest[:2])
    print(f"{rest[2:].decode('utf-8', 'replace')} {address} {port}", flush=True)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--proxy", required=True, type=parse_endpoint, help="the SOCKS5 server, HOST:PORT")
    parser.add_argument("--service", default="rcmd", help="the service part of the proxy's principal (default rcmd)")
    parser.add_argument("--service-host", default="localhost", help="the host part of the proxy's principal (default localhost)")
    parser.add_argument("--level", choices=LEVELS, default="none", help="the protection level to ask for (default none)")
    parser.add_argument("--nec", action="store_true", help="NEC's variant: the protection level travels unwrapped")
    parser.add_argument("--no-mutual", action="store_true", help="do not ask for mutual authentication")
    parser.add_argument("--fragment", action="store_true",
                        help="at levels 1-3, wrap what is sent in messages of varying small sizes")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds any one network operation may take")
    parser.add_argument("--digest", action="store_true", help="print LENGTH SHA256 of the answer instead of the answer")
    parser.add_argument("--connect", type=parse_endpoint, help="CONNECT to HOST:PORT")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--get", metavar="PATH", help="after CONNECT: an HTTP GET; prints the body")
    what.add_argument("--post", metavar="PATH", help="after CONNECT: an HTTP POST of --body-bytes bytes; prints the body")
    what.add_argument("--send", metavar="TEXT", help="after CONNECT: sends TEXT, prints what comes back until the end")
    parser.add_argument("--body-bytes", type=int, default=0, help="--post's body length (byte i is (31 i + 7) mod 256)")
    parser.add_argument("--udp", type=parse_endpoint, help="UDP ASSOCIATE, then send each --datagram to HOST:PORT")
    parser.add_argument("--datagram", action="append", default=[], help="a datagram's text (repeatable)")
    args = parser.parse_args(argv)
    if (args.connect is None) == (args.udp is None):
        parser.error("give exactly one of --connect and --udp")
    if args.connect is not None and args.get is None and args.post is None and args.send is None:
        parser.error("--connect needs --get, --post or --send")
    if args.udp is not None and not args.datagram:
        parser.error("--udp needs at least one --datagram")
    if args.body_bytes < 0:
        parser.error("--body-bytes must not be negative")
    return args


def main(argv):
    args = parse_arguments(argv)
    try:
        with socket.create_connection(args.proxy, timeout=args.timeout) as sock:
            connection = Connection(sock)
            context, level = authenticate(connection, args)
            channel = Channel(connection, context, level, args.fragment)
            try:
                if args.connect is not None:
                    run_connect(channel, args)
                else:
                    run_udp(connection, channel, args)
            except gssapi.exceptions.GSSError as error:
                raise Failure(EXIT_GSSAPI, f"GSSAPI failed on a message: {error}") from error
        return EXIT_OK
    except Failure as failure:
        print(f"rfc1961_client: {failure}", file=sys.stderr)
        return failure.code
    except socket.timeout:
        print(f"rfc1961_client: timed out after {args.timeout} s", file=sys.stderr)
        return EXIT_TIMEOUT
    except OSError as error:
        print(f"rfc1961_client: connection failed: {error}", file=sys.stderr)
        return EXIT_PROTOCOL


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
