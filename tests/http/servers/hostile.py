#!/usr/bin/env python3
"""A hostile HTTP/1.1 origin for wirelab-http's differential suite against curl (lab 04, issue
#14): one misbehaviour per port, from 9000 up, in the order of CASES below. Each handler gets
the connection and the request it read, writes what that misbehaving server would write, and
says whether to read the next request on the same connection.

    hostile.py ADDRESS            serve every case (a lab service; ends when killed)
    hostile.py --list             print "NAME PORT" for every case (the test reads this)

Only the standard library: it runs in any lab node with Debian's python3.
"""
import gzip
import socket
import sys
import threading
import time
import zlib

BASE_PORT = 9000
CASES = []


def case(function):
    CASES.append(function)
    return function


def response(status="200 OK", headers=(), body=b"", version="HTTP/1.1", eol=b"\r\n"):
    head = f"{version} {status}".encode() + eol
    for header in headers:
        head += header.encode() + eol
    return head + eol + body


def ok(body=b"hello", extra=()):
    return response(headers=(f"Content-Length: {len(body)}",) + tuple(extra), body=body)


def chunked(pieces, extra=(), trailers=b""):
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n" + trailers + b"\r\n"
    return response(headers=("Transfer-Encoding: chunked",) + tuple(extra), body=body)


def send(conn, data):
    conn.sendall(data)
    return True


# --- Content-Length ---------------------------------------------------------------------------
@case
def cl_plain(conn, req):
    return send(conn, ok())


@case
def cl_repeated_same(conn, req):
    return send(conn, response(headers=("Content-Length: 5", "Content-Length: 5"), body=b"hello"))


@case
def cl_list_same(conn, req):
    return send(conn, response(headers=("Content-Length: 5, 5",), body=b"hello"))


@case
def cl_conflicting(conn, req):
    return send(conn, response(headers=("Content-Length: 5", "Content-Length: 6"), body=b"hello!"))


@case
def cl_leading_zeros(conn, req):
    return send(conn, response(headers=("Content-Length: 0005",), body=b"hello"))


@case
def cl_negative(conn, req):
    send(conn, response(headers=("Content-Length: -1",), body=b"hello"))
    return False


@case
def cl_twenty_digits(conn, req):
    send(conn, response(headers=("Content-Length: 99999999999999999999",), body=b"hello"))
    return False


@case
def cl_zero(conn, req):
    return send(conn, ok(b""))


@case
def cl_short_then_close(conn, req):
    send(conn, response(headers=("Content-Length: 100",), body=b"only ten.."))
    return False


@case
def cl_bytes_beyond(conn, req):
    """More bytes than Content-Length, in the same write (RFC 9112 §6.3: discard, no reuse)."""
    return send(conn, ok(b"hello") + b"EXTRA BYTES")


@case
def cl_and_chunked(conn, req):
    return send(conn, chunked([b"Wiki", b"pedia"], extra=("Content-Length: 100",)))


@case
def cl_lowercase_fields(conn, req):
    return send(conn, response(headers=("content-length: 5", "connection: keep-alive"), body=b"hello"))


@case
def cl_big_body(conn, req):
    return send(conn, ok(bytes(range(256)) * 40000))


# --- chunked ----------------------------------------------------------------------------------
@case
def chunk_plain(conn, req):
    return send(conn, chunked([b"Wiki", b"pedia", b" in\r\n\r\nchunks."]))


@case
def chunk_upper_hex_and_zeros(conn, req):
    body = b"000A\r\n0123456789\r\n0000000000000001\r\nX\r\n0000\r\n\r\n"
    return send(conn, response(headers=("Transfer-Encoding: chunked",), body=body))


@case
def chunk_extensions(conn, req):
    body = b'4;name=value;q="a b;c"\r\nWiki\r\n5 ; ext\r\npedia\r\n0;last\r\n\r\n'
    return send(conn, response(headers=("Transfer-Encoding: chunked",), body=body))


@case
def chunk_long_extension(conn, req):
    body = b"4;x=" + b"e" * 20000 + b"\r\nWiki\r\n0\r\n\r\n"
    return send(conn, response(headers=("Transfer-Encoding: chunked",), body=body))


@case
def chunk_trailers(conn, req):
    trailers = b"".join(b"X-Trailer-%d: %d\r\n" % (i, i) for i in range(50))
    return send(conn, chunked([b"body with trailers"], extra=("Trailer: X-Trailer-0",), trailers=trailers))


@case
def chunk_many_small(conn, req):
    """60 000 one-line chunks: a long stream of rows (issue #14 item 1)."""
    pieces = [b"row %05d\n" % i for i in range(60000)]
    return send(conn, chunked(pieces))


@case
def chunk_big(conn, req):
    data = bytes(range(256)) * 64
    return send(conn, chunked([data] * 640))


@case
def chunk_bad_hex(conn, req):
    send(conn, response(headers=("Transfer-Encoding: chunked",), body=b"zz\r\nhello\r\n0\r\n\r\n"))
    return False


@case
def chunk_size_overflow(conn, req):
    send(conn, response(headers=("Transfer-Encoding: chunked",), body=b"10000000000000000\r\nx\r\n"))
    return False


@case
def chunk_data_too_long(conn, req):
    send(conn, response(headers=("Transfer-Encoding: chunked",), body=b"2\r\nabc\r\n0\r\n\r\n"))
    return False


@case
def chunk_bare_lf(conn, req):
    body = b"4\nWiki\n5\npedia\n0\n\n"
    return send(conn, response(headers=("Transfer-Encoding: chunked",), body=body))


@case
def chunk_close_mid_chunk(conn, req):
    send(conn, response(headers=("Transfer-Encoding: chunked",), body=b"10\r\nonly part"))
    return False


@case
def chunk_no_last_chunk(conn, req):
    send(conn, response(headers=("Transfer-Encoding: chunked",), body=b"5\r\nhello\r\n"))
    return False


@case
def chunk_size_trailing_spaces(conn, req):
    body = b"5   \r\nhello\r\n0  \r\n\r\n"
    return send(conn, response(headers=("Transfer-Encoding: chunked",), body=body))


# --- heads ------------------------------------------------------------------------------------
@case
def obs_fold(conn, req):
    return send(conn, response(headers=("X-Folded: one", "  two", "\tthree", "Content-Length: 5"), body=b"hello"))


@case
def obs_fold_in_framing_fields(conn, req):
    return send(conn, response(headers=("Connection: keep-alive,", " close", "Content-Length:", " 5"), body=b"hello"))


@case
def bare_lf_head(conn, req):
    return send(conn, response(headers=("Content-Length: 5",), body=b"hello", eol=b"\n"))


@case
def no_reason_phrase(conn, req):
    return send(conn, response(status="200", headers=("Content-Length: 5",), body=b"hello"))


@case
def odd_reason_phrase(conn, req):
    return send(conn, response(status="200 Very  Odd\tReason \xe9", headers=("Content-Length: 5",), body=b"hello"))


@case
def status_404(conn, req):
    return send(conn, response(status="404 Not Found", headers=("Content-Length: 9",), body=b"not found"))


@case
def status_500_close(conn, req):
    send(conn, response(status="500 Internal Server Error", headers=("Connection: close", "Content-Length: 4"), body=b"oops"))
    return False


@case
def many_header_fields(conn, req):
    fields = tuple(f"Set-Cookie: c{i}=v{i}; Path=/" for i in range(5000))
    return send(conn, ok(extra=fields))


@case
def head_200k(conn, req):
    fields = tuple(f"X-Pad-{i}: " + "p" * 190 for i in range(1000))
    return send(conn, ok(extra=fields))


@case
def head_1m(conn, req):
    fields = tuple(f"X-Pad-{i}: " + "p" * 1000 for i in range(1000))
    send(conn, ok(extra=fields))
    return False


@case
def not_http(conn, req):
    send(conn, b"hello, this is not HTTP\r\n\r\n")
    return False


@case
def empty_reply(conn, req):
    return False


# --- interim responses ------------------------------------------------------------------------
@case
def interim_100_continue(conn, req):
    return send(conn, response(status="100 Continue") + ok())


@case
def interim_103_hints(conn, req):
    hints = response(status="103 Early Hints", headers=("Link: </style.css>; rel=preload",))
    return send(conn, hints * 3 + ok())


@case
def interim_endless(conn, req):
    hints = response(status="103 Early Hints", headers=("Link: </style.css>; rel=preload",))
    try:
        for _ in range(200000):
            conn.sendall(hints)
            time.sleep(0.001)
    except OSError:
        pass
    return False


# --- no body, yet a body ----------------------------------------------------------------------
@case
def head_with_body(conn, req):
    """gunicorn 20.1 writes the body of a HEAD response (issue #14 item 5)."""
    return send(conn, ok(b"a body HEAD must not have"))


@case
def no_content_with_body(conn, req):
    return send(conn, response(status="204 No Content", headers=("Content-Length: 4",)) + b"junk")


@case
def not_modified_with_body(conn, req):
    return send(conn, response(status="304 Not Modified", headers=("Content-Length: 6",)) + b"stale!")


@case
def timeout_408_after_response(conn, req):
    """A response, then the 408 some servers send on an idle connection, then close."""
    send(conn, ok() + response(status="408 Request Timeout", headers=("Connection: close", "Content-Length: 0")))
    return False


# --- time -------------------------------------------------------------------------------------
@case
def slow_body(conn, req):
    conn.sendall(response(headers=("Content-Length: 20",)))
    for byte in b"slowly, byte by byte":
        conn.sendall(bytes([byte]))
        time.sleep(0.02)
    return True


@case
def stall_mid_body(conn, req):
    conn.sendall(response(headers=("Content-Length: 100",), body=b"ten bytes."))
    time.sleep(30)
    return False


@case
def never_answers(conn, req):
    time.sleep(30)
    return False


@case
def endless_chunked(conn, req):
    conn.sendall(response(headers=("Transfer-Encoding: chunked",)))
    try:
        for _ in range(100000):
            conn.sendall(b"1000\r\n" + b"e" * 4096 + b"\r\n")
            time.sleep(0.001)
    except OSError:
        pass
    return False


@case
def endless_until_close(conn, req):
    conn.sendall(response())
    try:
        for _ in range(100000):
            conn.sendall(b"e" * 4096)
            time.sleep(0.001)
    except OSError:
        pass
    return False


# --- connection management --------------------------------------------------------------------
@case
def close_announced_socket_open(conn, req):
    """Connection: close, then the socket stays open (issue #14 item 4)."""
    conn.sendall(response(headers=("Connection: close", "Content-Length: 5"), body=b"hello"))
    time.sleep(10)
    return False


@case
def close_after_each_silently(conn, req):
    send(conn, ok())
    return False


@case
def close_after_two_silently(conn, req):
    conn.served = getattr(conn, "served", 0) + 1
    send(conn, ok())
    return conn.served < 2


@case
def reset_after_response(conn, req):
    send(conn, ok())
    time.sleep(0.05)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    return False


@case
def http10_keep_alive(conn, req):
    return send(conn, response(version="HTTP/1.0", headers=("Connection: keep-alive", "Content-Length: 5"), body=b"hello"))


@case
def http10_plain(conn, req):
    send(conn, response(version="HTTP/1.0", headers=("Content-Length: 5",), body=b"hello"))
    return False


@case
def http10_chunked_keep_alive(conn, req):
    # RFC 9112 §6.1: HTTP/1.0 has no Transfer-Encoding; the framing may be faulty.
    body = b"5\r\nhello\r\n0\r\n\r\n"
    return send(conn, response(version="HTTP/1.0", headers=("Connection: keep-alive", "Transfer-Encoding: chunked"), body=body))


@case
def http10_until_close(conn, req):
    send(conn, response(version="HTTP/1.0", body=b"a body that ends when the server closes"))
    return False


@case
def http11_until_close(conn, req):
    send(conn, response(body=b"no length, no chunks: until close"))
    return False


# --- transfer codings -------------------------------------------------------------------------
PLAIN = b"decoded, as RFC 9112 section 7 says\n" * 100


@case
def te_gzip_chunked(conn, req):
    data = gzip.compress(PLAIN)
    return send(conn, chunked([data[: len(data) // 2], data[len(data) // 2 :]]).replace(
        b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip, chunked", 1))


@case
def te_deflate_chunked(conn, req):
    data = zlib.compress(PLAIN)
    return send(conn, chunked([data]).replace(
        b"Transfer-Encoding: chunked", b"Transfer-Encoding: deflate, chunked", 1))


@case
def te_gzip_until_close(conn, req):
    send(conn, response(headers=("Transfer-Encoding: gzip",), body=gzip.compress(PLAIN)))
    return False


@case
def te_unknown_coding(conn, req):
    send(conn, chunked([b"compressed?"]).replace(
        b"Transfer-Encoding: chunked", b"Transfer-Encoding: br, chunked", 1))
    return False


@case
def te_chunked_uppercase(conn, req):
    return send(conn, chunked([b"Wiki", b"pedia"]).replace(b"chunked", b"CHUNKED", 1))


# --- volume (make bench: peak RSS against curl's) ---------------------------------------------
@case
def gib_chunked(conn, req):
    """1 GiB of chunked body, 64 KiB a chunk: memory must not grow with the body."""
    chunk = b"10000\r\n" + b"g" * 65536 + b"\r\n"
    conn.sendall(response(headers=("Transfer-Encoding: chunked",)))
    for _ in range(16384):
        conn.sendall(chunk)
    conn.sendall(b"0\r\n\r\n")
    return True


# --- redirects --------------------------------------------------------------------------------
@case
def redirect_chain(conn, req):
    hops = {"/": ("302 Found", "/a/b"), "/a/b": ("301 Moved Permanently", "c?x=1"),
            "/a/c?x=1": ("307 Temporary Redirect", "//{host}/done")}
    if req["path"] in hops:
        status, location = hops[req["path"]]
        location = location.replace("{host}", req["host"])
        return send(conn, response(status=status, headers=(f"Location: {location}", "Content-Length: 3"), body=b"bye"))
    return send(conn, ok(b"arrived at " + req["path"].encode()))


@case
def redirect_loop(conn, req):
    n = int(req["path"].strip("/") or 0) + 1
    return send(conn, response(status="302 Found", headers=(f"Location: /{n}", "Content-Length: 0")))


@case
def redirect_without_location(conn, req):
    return send(conn, response(status="302 Found", headers=("Content-Length: 4",), body=b"stay"))


# --- serving ----------------------------------------------------------------------------------
def read_request(conn, pending):
    """One request head (and no body: the suite sends none). None when the client is gone."""
    while b"\r\n\r\n" not in pending[0]:
        data = conn.recv(65536)
        if not data:
            return None
        pending[0] += data
    head, pending[0] = pending[0].split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, path = lines[0].split(" ")[:2]
    host = ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "host":
            host = value.strip()
    return {"method": method, "path": path, "host": host}


class Conn:
    """A socket that handlers may tag (close_after_two_silently counts on it)."""

    def __init__(self, sock):
        self.sock = sock

    def __getattr__(self, name):
        return getattr(self.sock, name)


def serve(handler, conn):
    conn.settimeout(30)
    pending = [b""]
    tagged = Conn(conn)
    try:
        while True:
            req = read_request(conn, pending)
            if req is None or not handler(tagged, req):
                break
    except OSError:
        pass
    finally:
        conn.close()


def listen(address, port, handler):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(64)

    def accept():
        while True:
            conn, _ = sock.accept()
            threading.Thread(target=serve, args=(handler, conn), daemon=True).start()

    return accept


def main():
    if sys.argv[1:] == ["--list"]:
        for i, handler in enumerate(CASES):
            print(handler.__name__, BASE_PORT + i)
        return
    address = sys.argv[1] if len(sys.argv) > 1 else "0.0.0.0"
    # Bind the highest port first: the lab waits for 9000, so every port listens by then.
    loops = [listen(address, BASE_PORT + i, h) for i, h in reversed(list(enumerate(CASES)))]
    for loop in loops:
        threading.Thread(target=loop, daemon=True).start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
