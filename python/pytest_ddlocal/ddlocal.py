"""Control a ddlocal pipeline from Python: start and stop it, reset it, move its clock, wait
for its events, make devices. No pytest here: pytest_ddlocal's fixtures wrap these classes,
and a script of your own can use them the same way.

Only the standard library, Debian's python3-boto3 (for `Ddlocal.iot_client`) and the
mosquitto clients (`mosquitto_pub`, `mosquitto_sub` from Debian's mosquitto-clients, for
`Device`) are used. Everything goes through `ddlocal` (up, down) and the pipeline's HTTP API
(the AWS IoT operations and ddlocald's own /ddlocal/v1/* endpoints), the same paths a user
has; docs/reference/pytest.md documents it.
"""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

REGION = "us-east-1"
ACCOUNT = "123456789012"

# The longest single long-poll ddlocald accepts (GET /ddlocal/v1/events, timeout=MS).
_POLL_MAX_MS = 20000
# ddlocald answered "busy" (only its in-process entry point does): ask again after this.
_BUSY_PAUSE_S = 0.2

# A device policy as the workshop's (fixtures/policies/device-policy-per-thing.json), open
# wider: a device may connect with any client id and use its own thing's topics and any
# topic outside $aws/ (telemetry), so a test's device can do what a test asks of it.
DEVICE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "iot:Connect",
         "Resource": "arn:aws:iot:*:*:client/*"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive", "iot:RetainPublish"],
         "Resource": ["arn:aws:iot:*:*:topic/$aws/things/${iot:Connection.Thing.ThingName}/*",
                      "arn:aws:iot:*:*:topic/*"]},
        {"Effect": "Allow", "Action": "iot:Subscribe",
         "Resource": ["arn:aws:iot:*:*:topicfilter/$aws/things/"
                      "${iot:Connection.Thing.ThingName}/*",
                      "arn:aws:iot:*:*:topicfilter/*"]},
    ],
}
DEVICE_POLICY_NAME = "ddlocal-pytest-device"


class DdlocalError(Exception):
    """ddlocal could not be found, started, reached or asked."""


class DdlocalTimeout(AssertionError):
    """A wait ended without the event (an AssertionError: the test failed, not broke)."""


def find_program(name, explicit=None, env=None, beside=None):
    """The path of program NAME: EXPLICIT, else $ENV, else next to BESIDE (a program path),
    else on PATH; DdlocalError naming all places tried otherwise."""
    tried = []
    for cand, what in ((explicit, "given"),
                       (os.environ.get(env) if env else None, "$%s" % env)):
        if cand:
            # A path given and not found is an error, not a reason to take another program.
            path = shutil.which(cand) or (cand if os.access(cand, os.X_OK) else None)
            if path:
                return os.path.abspath(path)
            raise DdlocalError("%s not found: %s (%s)" % (name, cand, what))
    if beside:
        here = os.path.dirname(os.path.abspath(beside))
        # Installed: all in PREFIX/bin. The build tree: build/cli/ddlocal, build/device/...
        for cand in (os.path.join(here, name), os.path.join(here, "..", "device", name)):
            if os.access(cand, os.X_OK):
                return os.path.abspath(cand)
            tried.append(cand)
    path = shutil.which(name)
    if path:
        return path
    tried.append("PATH")
    raise DdlocalError("%s not found (tried %s)%s" % (
        name, ", ".join(tried), "; set $%s or put it on PATH" % env if env else ""))


class Ddlocal:
    """One pipeline (a data dir): started by `start()` with `ddlocal up --detach`, or found
    running there (`attach()`); `stop()` runs `ddlocal down` on what start() began."""

    def __init__(self, data_dir, ddlocal="ddlocal", up_args=("--manual-clock",),
                 agent=None, timeout=60):
        self.data_dir = os.path.abspath(data_dir)
        self.bin = find_program("ddlocal", ddlocal, "DDLOCAL_BIN")
        self.agent_bin = agent
        self.up_args = list(up_args)
        self.timeout = timeout
        self.started = False
        self.endpoints = None
        self._iot = None
        self._session = None
        self._devices_dir = None

    # ---- lifecycle ---------------------------------------------------------------------

    def _run(self, *args, check=True, timeout=None):
        out = subprocess.run([self.bin, *args, "-D", self.data_dir], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True,
                             timeout=timeout or self.timeout + 30)
        if check and out.returncode != 0:
            raise DdlocalError("ddlocal %s -D %s exited with %d:\n%s%s" % (
                " ".join(args), self.data_dir, out.returncode, out.stdout, out.stderr))
        return out

    def running(self):
        """Whether this data dir's pipeline runs (`ddlocal status`: a stale file is not)."""
        return self._run("status", check=False).returncode == 0

    def init_template(self, cache_dir):
        """An initialised data dir (`ddlocal init`: the CA and keys, an empty database) kept
        under CACHE_DIR for this ddlocal program (its path, size and mtime), made once:
        start(template=...) copies it instead of making a CA per session (about 1-3 s)."""
        st = os.stat(self.bin)
        key = hashlib.sha256(("%s:%d:%d" % (os.path.realpath(self.bin), st.st_size,
                                            st.st_mtime_ns)).encode()).hexdigest()[:16]
        template = os.path.join(cache_dir, "init-" + key)
        if not os.path.exists(os.path.join(template, "data", "pki", "rootca.pem")):
            os.makedirs(cache_dir, exist_ok=True)
            tmp = tempfile.mkdtemp(prefix="tmp-", dir=cache_dir)
            try:
                out = subprocess.run([self.bin, "init", "-D", os.path.join(tmp, "data")],
                                     stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                     timeout=self.timeout)
                if out.returncode != 0:
                    raise DdlocalError("ddlocal init exited with %d: %s" % (
                        out.returncode, out.stderr))
                # Another session may have made it meanwhile: then its copy stays.
                try:
                    os.rename(tmp, template)
                except OSError:
                    pass
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            for old in os.listdir(cache_dir):  # those of other ddlocal builds
                if old.startswith("init-") and old != os.path.basename(template):
                    shutil.rmtree(os.path.join(cache_dir, old), ignore_errors=True)
        return os.path.join(template, "data")

    def start(self, template=None):
        """`ddlocal up --detach` on free ports; returns once ready (DdlocalError with the
        command's output and exit status otherwise). TEMPLATE (init_template()) is copied
        to the data dir first if that does not exist yet."""
        if template is not None and not os.path.exists(self.data_dir):
            shutil.copytree(template, self.data_dir, symlinks=True)
        cmd = [self.bin, "up", "--detach", "-D", self.data_dir, "--mqtt-port", "0",
               "--alpn-port", "0", "--api-port", "0", "--timeout", str(self.timeout),
               *self.up_args]
        with tempfile.TemporaryFile("w+") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, text=True)
            # boto3 takes about as long to load the IoT model as `up` to get ready (more
            # with a new data dir's CA): do it meanwhile, the client is made from it later.
            self._boto3_session()
            try:
                rc = proc.wait(timeout=self.timeout + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc = "killed after %d s" % (self.timeout + 30)
            if rc != 0:
                log.seek(0)
                raise DdlocalError("%s exited with %s:\n%s" % (" ".join(cmd), rc, log.read()))
        self.started = True
        self._load_endpoints()
        return self

    def attach(self):
        """Use the pipeline already running on the data dir (not stopped by stop())."""
        if not self.running():
            raise DdlocalError("no running pipeline on %s (ddlocal status)" % self.data_dir)
        self._load_endpoints()
        return self

    def stop(self):
        """`ddlocal down` if start() started it; returns once every process is gone."""
        if self._iot is not None:
            self._iot.close()
            self._iot = None
        if self._devices_dir is not None:
            shutil.rmtree(self._devices_dir, ignore_errors=True)
            self._devices_dir = None
        if self.started:
            self.started = False
            self._run("down")

    def _load_endpoints(self):
        with open(os.path.join(self.data_dir, "endpoints.json"), encoding="utf-8") as f:
            self.endpoints = json.load(f)
        host, _, port = self.endpoints["mqtt"].rpartition(":")
        self.mqtt_host, self.mqtt_port = host, int(port)

    @property
    def api(self):
        """The AWS IoT API's URL (boto3's endpoint_url, `aws --endpoint-url`)."""
        return self.endpoints["api"]

    @property
    def root_ca(self):
        return self.endpoints["rootCa"]

    def log_tail(self, lines=30):
        """The last lines of ddlocald's log, for a failure message."""
        try:
            with open(os.path.join(self.data_dir, "logs", "ddlocald.log"),
                      encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    # ---- ddlocald's own endpoints ------------------------------------------------------

    def request(self, method, path, body=None, timeout=30):
        """One HTTP request to the API (path with its query); the answer's JSON. A non-2xx
        answer raises DdlocalError with ddlocald's message."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                text = resp.read()
        except urllib.error.HTTPError as e:
            raise DdlocalError("%s %s answered %d: %s" % (
                method, path, e.code, e.read().decode(errors="replace"))) from None
        except OSError as e:
            raise DdlocalError("%s %s: %s (is the pipeline on %s running?)" % (
                method, path, e, self.data_dir)) from None
        return json.loads(text) if text else None

    def reset(self, kinds=None):
        """POST /ddlocal/v1/reset: empty all state (or KINDS: registry, profiles, violations,
        metrics, mitigation); the CA, settings, ports and processes stay."""
        return self.request("POST", "/ddlocal/v1/reset",
                            {"kinds": list(kinds)} if kinds else None)

    def health(self):
        return self.request("GET", "/ddlocal/v1/health")

    def status(self):
        return self.request("GET", "/ddlocal/v1/status")

    # ---- boto3 --------------------------------------------------------------------------

    def iot_client(self, **kwargs):
        """A boto3 IoT client pointed at the API: endpoint_url, the pipeline's region, dummy
        credentials (nothing of ~/.aws is needed), no retries (an error shows at once).
        Made once and kept (boto3 takes ~0.1 s to build one); KWARGS make a new one."""
        if self._iot is not None and not kwargs:
            return self._iot
        import botocore.config
        args = dict(endpoint_url=self.api, region_name=REGION,
                    aws_access_key_id="test", aws_secret_access_key="test",
                    config=botocore.config.Config(retries={"mode": "standard",
                                                           "max_attempts": 1}))
        args.update(kwargs)
        session = self._boto3_session()
        if session is None:
            raise DdlocalError("boto3 is not installed (Debian: apt-get install python3-boto3)")
        client = session.client("iot", **args)
        if not kwargs:
            self._iot = client
        return client

    def _boto3_session(self):
        """A boto3 session of its own (the caller's AWS_PROFILE or ~/.aws/config change
        nothing) with the IoT model loaded; None without boto3 (until iot_client)."""
        if self._session is None:
            try:
                import boto3
            except ImportError:
                return None
            session = boto3.session.Session(region_name=REGION, aws_access_key_id="test",
                                            aws_secret_access_key="test")
            # Loads the model into the session's loader cache; later clients reuse it.
            session.client("iot", endpoint_url="http://127.0.0.1:9").close()
            self._session = session
        return self._session

    # ---- the clock ----------------------------------------------------------------------

    def clock_now(self):
        """Pipeline time in ms since the epoch."""
        return self.request("GET", "/ddlocal/v1/clock")["pipelineTimeMs"]

    def clock_advance(self, seconds):
        """Move a manual clock forward (`ddlocal up --manual-clock`). Every message the
        broker accepted before the call (a QoS 1 publish whose PUBACK came back, a report)
        is counted first, in the window it was sent in; windows that end close and are
        evaluated before this returns. The new pipeline time in ms."""
        ans = self.request("POST", "/ddlocal/v1/clock", {"advanceSeconds": seconds}, timeout=60)
        return ans.get("pipelineTimeMs") if isinstance(ans, dict) else None

    # ---- events -------------------------------------------------------------------------

    def events(self, after=0, timeout_ms=0, limit=None, **filters):
        """One GET /ddlocal/v1/events: {"events","lastSeq","missed","busy"}. FILTERS: type
        (str or list), thing, profile, group."""
        q = {"after": after, "timeout": timeout_ms}
        if limit:
            q["limit"] = limit
        for k, v in filters.items():
            if v is not None:
                q[k] = ",".join(v) if isinstance(v, (list, tuple)) else v
        return self.request("GET", "/ddlocal/v1/events?" + urllib.parse.urlencode(q),
                            timeout=timeout_ms / 1000 + 30)

    def last_seq(self):
        """The newest event's seq (0 with none): pass it as `after` to see only later ones."""
        return self.events(after=2**62, limit=1)["lastSeq"]

    def since_reset(self):
        """The seq of the last reset (0 if none): waits count the events after it."""
        return max((e["seq"] for e in self.events(type="reset")["events"]), default=0)

    def wait_for(self, type, timeout=30, after=None, match=None, **filters):
        """The first event of TYPE (with the server's FILTERS: thing, profile, group, and the
        member values in MATCH, e.g. {"result": "rejected"}) after seq AFTER (default: the
        last reset, as `ddlocal wait`); DdlocalTimeout with the events seen instead."""
        after = self.since_reset() if after is None else after
        start = after
        match = {k: v for k, v in (match or {}).items() if v is not None}
        deadline = time.monotonic() + timeout
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            page = self.events(after=after, timeout_ms=max(0, min(left_ms, _POLL_MAX_MS)),
                               type=type, **filters)
            for e in page["events"]:
                if all(e.get(k) == v for k, v in match.items()):
                    return e
            after = max(after, page["lastSeq"])
            if time.monotonic() >= deadline:
                break
            if page.get("busy"):
                time.sleep(_BUSY_PAUSE_S)
        seen = self.events(after=max(start, after - 10))["events"]
        want = ", ".join("%s=%s" % kv for kv in list(filters.items()) + list(match.items())
                         if kv[1] is not None)
        raise DdlocalTimeout("no %s event%s within %g s; the last events seen instead:\n%s" % (
            type, " with " + want if want else "", timeout,
            "\n".join(json.dumps(e) for e in seen) or "(none at all)"))

    def wait_for_violation(self, thing=None, profile=None, behavior=None, event="in-alarm",
                           timeout=30, after=None):
        """A violation event (`ddlocal wait violation`); EVENT: in-alarm, alarm-cleared,
        alarm-invalidated (None: any)."""
        return self.wait_for("violation", timeout, after, thing=thing, profile=profile,
                             match={"violationEventType": event, "behavior": behavior})

    def wait_for_alert(self, thing=None, profile=None, behavior=None, event="in-alarm",
                       timeout=30, after=None):
        """An alert published on an SNS stand-in topic (`ddlocal wait alert`)."""
        return self.wait_for("alert", timeout, after, thing=thing, profile=profile,
                             match={"violationEventType": event, "behavior": behavior})

    def wait_for_group(self, thing=None, group=None, change="added", timeout=30, after=None):
        """A thing added to (or removed from) a thing group, e.g. a quarantine."""
        return self.wait_for("group", timeout, after, thing=thing, group=group,
                             match={"change": change})

    def wait_for_report(self, thing=None, result=None, timeout=30, after=None):
        """A device report answered; RESULT: accepted or rejected (None: either)."""
        return self.wait_for("report", timeout, after, thing=thing, match={"result": result})

    # ---- devices ------------------------------------------------------------------------

    def create_device(self, thing_name, client_id=None, policy=None, attributes=None,
                      iot=None):
        """Thing THING_NAME, a key pair and an active certificate (CreateKeysAndCertificate),
        attached to the thing, with POLICY (a document, default DEVICE_POLICY, made once
        per reset) attached to the certificate; all through the AWS API. A Device."""
        iot = iot or self.iot_client()
        if self._devices_dir is None:
            self._devices_dir = tempfile.mkdtemp(prefix="ddlocal-pytest-devices.")
        kwargs = {"attributePayload": {"attributes": attributes}} if attributes else {}
        iot.create_thing(thingName=thing_name, **kwargs)
        cert = iot.create_keys_and_certificate(setAsActive=True)
        iot.attach_thing_principal(thingName=thing_name, principal=cert["certificateArn"])
        if policy is None:
            policy_name = DEVICE_POLICY_NAME
            doc = DEVICE_POLICY
        else:
            policy_name = "%s-policy" % thing_name
            doc = policy
        try:
            iot.create_policy(policyName=policy_name,
                              policyDocument=doc if isinstance(doc, str) else json.dumps(doc))
        except iot.exceptions.ResourceAlreadyExistsException:
            pass
        iot.attach_policy(policyName=policy_name, target=cert["certificateArn"])
        d = os.path.join(self._devices_dir, cert["certificateId"])
        os.mkdir(d, 0o700)
        cert_path = os.path.join(d, "cert.pem")
        key_path = os.path.join(d, "private.key")
        with open(cert_path, "w", encoding="ascii") as f:
            f.write(cert["certificatePem"])
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(cert["keyPair"]["PrivateKey"])
        return Device(self, thing_name, client_id or thing_name, cert["certificateArn"],
                      cert["certificateId"], cert_path, key_path, policy_name)


def report_json(report_id=None, bytes_out=0, bytes_in=0, packets_out=0, packets_in=0,
                metrics=None):
    """A Device Defender metrics report (JSON, long key names) with these network stats;
    METRICS (a dict) replaces the whole "metrics" object."""
    if report_id is None:
        report_id = time.time_ns() // 1000000
    return json.dumps({
        "header": {"report_id": report_id, "version": "1.0"},
        "metrics": metrics if metrics is not None else {
            "network_stats": {"bytes_in": bytes_in, "bytes_out": bytes_out,
                              "packets_in": packets_in, "packets_out": packets_out}},
    }, separators=(",", ":"))


class Device:
    """A thing with its certificate and key (files), connecting to the pipeline's broker
    with mosquitto_pub / mosquitto_sub (each call is one MQTT connection) or with
    ddlocal-agent. `mqtt_args()` has what any other MQTT client needs."""

    def __init__(self, dd, thing_name, client_id, certificate_arn, certificate_id, cert_path,
                 key_path, policy_name):
        self.dd = dd
        self.thing_name = thing_name
        self.client_id = client_id
        self.certificate_arn = certificate_arn
        self.certificate_id = certificate_id
        self.cert_path = cert_path
        self.key_path = key_path
        self.policy_name = policy_name
        self.host = dd.mqtt_host
        self.port = dd.mqtt_port
        self.root_ca = dd.root_ca
        self._subscriptions = []

    def __repr__(self):
        return "Device(%r, client_id=%r)" % (self.thing_name, self.client_id)

    def mqtt_args(self, client_id=None):
        """mosquitto_pub/mosquitto_sub options: broker, CA, certificate, key, client id."""
        return ["-h", self.host, "-p", str(self.port), "--cafile", self.root_ca,
                "--cert", self.cert_path, "--key", self.key_path,
                "-i", client_id or self.client_id]

    def publish(self, topic, payload, qos=1, check=True, timeout=30, client_id=None,
                extra=()):
        """mosquitto_pub of PAYLOAD (str or bytes) on TOPIC; at QoS 1 it returns after the
        broker's PUBACK, so a clock advance afterwards counts the message. The
        CompletedProcess; with CHECK a failure (refused, not authorised) raises
        DdlocalError with mosquitto_pub's message."""
        pub = find_program("mosquitto_pub")
        data = payload.encode() if isinstance(payload, str) else payload
        out = subprocess.run([pub, *self.mqtt_args(client_id), "-q", str(qos), "-t", topic,
                              "-s", *extra], input=data, capture_output=True, timeout=timeout)
        out.stderr = out.stderr.decode(errors="replace")
        out.stdout = out.stdout.decode(errors="replace")
        if check and out.returncode != 0:
            raise DdlocalError("%s could not publish on %s (exit %d): %s" % (
                self.thing_name, topic, out.returncode, out.stderr.strip()))
        return out

    def report(self, report_id=None, bytes_out=0, bytes_in=0, packets_out=0, packets_in=0,
               metrics=None, payload=None, expect="accepted", timeout=30):
        """Publish a Device Defender report (report_json(...), or PAYLOAD as is) on
        $aws/things/THING/defender/metrics/json and wait for the pipeline's answer: the
        `report` event. EXPECT (accepted, rejected; None: either) is checked."""
        after = self.dd.last_seq()
        if payload is None:
            payload = report_json(report_id, bytes_out, bytes_in, packets_out, packets_in,
                                  metrics)
        self.publish("$aws/things/%s/defender/metrics/json" % self.thing_name, payload)
        event = self.dd.wait_for_report(self.thing_name, timeout=timeout, after=after)
        if expect is not None and event.get("result") != expect:
            raise AssertionError("%s's report was %s, not %s: %s" % (
                self.thing_name, event.get("result"), expect, json.dumps(event)))
        return event

    def subscribe(self, topic, count=1, timeout=30, qos=1, client_id=None):
        """A Subscription: mosquitto_sub on TOPIC, returned once the broker acknowledged the
        subscription (so what is published afterwards is received); its messages() are the
        first COUNT payloads."""
        sub = Subscription(self, topic, count, timeout, qos, client_id)
        self._subscriptions.append(sub)
        return sub

    def close(self):
        """End the subscriptions still running (the device fixture does it after a test)."""
        for sub in self._subscriptions:
            sub.close()
        self._subscriptions = []

    def agent(self, *args, count=1, interval=1, timeout=120):
        """Run ddlocal-agent as this device for COUNT reports (`--count`; exit 0 only if each
        was accepted); ARGS are more agent options. The CompletedProcess."""
        agent = find_program("ddlocal-agent", self.dd.agent_bin, "DDLOCAL_AGENT",
                             beside=self.dd.bin)
        cmd = [agent, "-e", self.host, "--port", str(self.port), "-r", self.root_ca,
               "-c", self.cert_path, "-k", self.key_path, "-id", self.client_id,
               "-t", self.thing_name, "-i", str(interval), "--count", str(count),
               "--clock", "none", *args]
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)


class Subscription:
    """mosquitto_sub in the background; see Device.subscribe."""

    def __init__(self, device, topic, count, timeout, qos, client_id):
        sub = find_program("mosquitto_sub")
        self.topic = topic
        self.count = count
        # -d: its debug lines tell when the SUBACK came; -F %j: each message one JSON line.
        # mosquitto_sub does not flush its output into a pipe: stdbuf makes it line-buffered.
        self.proc = subprocess.Popen(
            [find_program("stdbuf"), "-oL", sub,
             *device.mqtt_args(client_id or device.client_id + "-sub"), "-q", str(qos),
             "-t", topic, "-C", str(count), "-W", str(int(timeout)), "-d", "-F", "%j"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        self._lines = []
        for line in self.proc.stdout:
            self._lines.append(line)
            if " received SUBACK" in line:
                return
        err = self.proc.stderr.read()
        self.proc.wait()
        raise DdlocalError("mosquitto_sub on %s ended before subscribing (exit %d): %s%s" % (
            topic, self.proc.returncode, "".join(self._lines), err))

    def messages(self):
        """The payloads (str) of the COUNT messages, once they came; DdlocalTimeout if the
        subscription's timeout passed first."""
        out, err = self.proc.communicate()
        payloads = [json.loads(line)["payload"] for line in (self._lines + out.splitlines(True))
                    if line.startswith("{")]
        if len(payloads) < self.count:
            raise DdlocalTimeout("%d of %d messages on %s came (mosquitto_sub exit %d): %s" % (
                len(payloads), self.count, self.topic, self.proc.returncode, err.strip()))
        return payloads

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
