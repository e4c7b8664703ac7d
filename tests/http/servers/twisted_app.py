"""twisted.web for the http differential suite (tests/http/servers): twisted_app.py ADDR PORT.

/             a small body (Twisted adds Content-Length)
/stream?N     N rows written one by one: no Content-Length, so Twisted sends them chunked
"""
import sys

from twisted.internet import reactor
from twisted.web import resource, server


class Root(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        if request.path == b"/stream":
            rows = int(request.uri.partition(b"?")[2] or b"1000")
            request.setHeader(b"content-type", b"text/plain")
            for i in range(1, rows + 1):
                request.write(b"row %d\n" % i)
            request.finish()
            return server.NOT_DONE_YET
        if request.path == b"/":
            request.setHeader(b"content-type", b"text/plain")
            return b"hello from twisted\n"
        request.setResponseCode(404)
        return b"not found\n"

    def render_HEAD(self, request):
        return self.render_GET(request)


reactor.listenTCP(int(sys.argv[2]), server.Site(Root()), interface=sys.argv[1])
reactor.run()
