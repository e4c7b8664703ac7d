"""A tiny HTTP server for tests/resolver.rs: answers every GET on 0.0.0.0:8000 with
"hello from NODE". Prints "ready" once it listens; ends itself after 60 s in case the test
that started it cannot stop it."""
import http.server
import sys
import threading

BODY = f"hello from {sys.argv[1]}\n".encode()


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("0.0.0.0", 8000), Hello)
threading.Timer(60, server.shutdown).start()
print("ready", flush=True)
server.serve_forever()
