"""A WSGI app for gunicorn in the http differential suite (tests/http/servers).

/             a small body with Content-Length
/stream?N     N rows from a generator: no Content-Length, so gunicorn sends them chunked
/cookies      70 Set-Cookie fields
"""


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    query = environ.get("QUERY_STRING", "")
    if path == "/stream":
        rows = int(query or "1000")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"row %d\n" % i for i in range(1, rows + 1))
    if path == "/cookies":
        cookies = [("Set-Cookie", "cookie%d=value%d; Path=/" % (i, i)) for i in range(1, 71)]
        body = b"70 cookies set\n"
        start_response("200 OK", cookies + [("Content-Length", str(len(body)))])
        return [body]
    if path == "/":
        body = b"hello from gunicorn\n"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    body = b"not found\n"
    start_response("404 Not Found", [("Content-Length", str(len(body)))])
    return [body]
