"""A loopback HTTP receiver for the webhook tests: POST /ok/<name> is stored in
DIR/<name>.<n>.json (n = 0, 1, 2, ...; the SNS message type header in
DIR/<name>.<n>.type) and answered 200; POST /fail/<name> is counted in
DIR/<name>.failures and answered 500. Prints the port, then serves forever.

usage: webhook_receiver.py [--background] DIR
  --background  print the port once listening, then serve from a child process
                and exit, so `PORT=$(webhook_receiver.py --background DIR)` gets
                the port with no race (the walkthrough's Module 5); the child's
                process id is in DIR/receiver.pid."""
import http.server
import os
import sys

background = len(sys.argv) > 1 and sys.argv[1] == "--background"
out_dir = sys.argv[2] if background else sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        parts = self.path.strip("/").split("/")
        name = parts[1] if len(parts) > 1 else "hook"
        if parts[0] == "ok":
            n = len([f for f in os.listdir(out_dir)
                     if f.startswith(name + ".") and f.endswith(".json")])
            with open(os.path.join(out_dir, "%s.%d.json" % (name, n)), "wb") as f:
                f.write(body)
            with open(os.path.join(out_dir, "%s.%d.type" % (name, n)), "w") as f:
                f.write(self.headers.get("x-amz-sns-message-type", ""))
            self.send_response(200)
        else:
            with open(os.path.join(out_dir, name + ".failures"), "a") as f:
                f.write("x\n")
            self.send_response(500)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
if background:
    if os.fork() != 0:
        os._exit(0)
    os.setsid()
    with open(os.path.join(out_dir, "receiver.pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
server.serve_forever()
