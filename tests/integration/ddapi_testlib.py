"""Helpers of the control API's integration tests (run with Debian's /usr/bin/python3).

TestServer starts tests/integration/dd_api_testserver (the real API on a real data
dir, no broker) on a free loopback port and drives its stdin commands (reports,
clock). aws() runs Debian's AWS CLI v2 (/usr/bin/aws, never the `aws` earlier on
PATH) with dummy credentials and an isolated configuration.
"""
import json
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request

AWS_CLI = "/usr/bin/aws"
ACCOUNT = "123456789012"
REGION = "us-east-1"


def arn(kind, name):
    return "arn:aws:iot:%s:%s:%s/%s" % (REGION, ACCOUNT, kind, name)


class TestServer:
    """dd_api_testserver on a fresh temp data dir; stop() removes everything."""

    def __init__(self, binary, extra_args=()):
        self.tmp = tempfile.mkdtemp(prefix="ddapi_it_")
        self.data_dir = os.path.join(self.tmp, "data")
        self.hooks_log = os.path.join(self.tmp, "hooks.log")
        self.stderr = open(os.path.join(self.tmp, "server.err"), "w")
        self.proc = subprocess.Popen(
            [binary, self.data_dir, "--hooks-log", self.hooks_log, *extra_args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            text=True, bufsize=1)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            self.stop()
            raise RuntimeError("dd_api_testserver did not start: %r" % line)
        self.port = int(line[1])
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def command(self, line):
        """Sends one stdin command; returns the words of the answer after 'ok'."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if not answer.startswith("ok"):
            raise RuntimeError("%s -> %s" % (line[:60], answer))
        return answer.split()[1:]

    def report(self, thing, report):
        return self.command("report %s %s" % (thing, json.dumps(report, separators=(",", ":"))))

    def now_ms(self):
        return int(self.command("now")[0])

    def advance(self, seconds):
        return int(self.command("advance %s" % seconds)[0])

    def hook_counts(self):
        words = dict(w.split("=") for w in self.command("hooks"))
        return int(words["registry"]), int(words["defender"])

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.stderr):
            try:
                stream.close()
            except OSError:
                pass
        # A sanitizer report (leak, overflow) makes the server exit non-zero: fail loudly.
        with open(os.path.join(self.tmp, "server.err"), encoding="utf-8", errors="replace") as f:
            err = f.read()
        status = self.proc.returncode
        shutil.rmtree(self.tmp, ignore_errors=True)
        if status != 0 or "Sanitizer" in err or "runtime error" in err:
            raise RuntimeError("dd_api_testserver exited with %s:\n%s" % (status, err[-20000:]))


def rest(endpoint, method, path, body=None):
    """One plain HTTP request to the API, for members Debian's botocore model is too old
    to know (metricsExportConfig, deleteMetricsExportConfig): (status, parsed JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(endpoint + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, text = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    return status, (json.loads(text) if text.strip() else {})


def cli_env(tmp):
    """Dummy credentials and a configuration that nothing outside can change."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_PAGER": "",
        "AWS_CONFIG_FILE": os.path.join(tmp, "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(tmp, "aws-credentials"),
    })
    return env


def bytes_out_report(report_id, bytes_out):
    return {"header": {"report_id": report_id, "version": "1.0"},
            "metrics": {"network_stats": {"bytes_in": 10, "bytes_out": bytes_out,
                                          "packets_in": 1, "packets_out": 1}}}
