"""Executable docs: runs the shell blocks of a markdown page exactly as printed.

The convention (tests/walkthrough/README.md): an HTML comment right before a
```sh fence marks the block.

    <!-- run: step=3.1 terminal=main -->      run it (attributes below)
    <!-- norun: why -->                       shown to the reader, never run

Every ```sh block of a page must carry one of the two, so a command cannot be
added to the docs without being run or explicitly excused. Attributes of run:

    step=ID          unique on the page; the test's checks are keyed by it
    terminal=NAME    the terminal (one persistent bash) it is typed into;
                     default "main". Variables, functions and jobs (`&`,
                     `kill %1`) live on in a terminal like in the reader's.
    every-terminal   typed again, first thing, into every terminal opened
                     later (the page's "in every terminal" setup lines)
    no-wait          the block's last command keeps running in the
                     foreground (`ddlocal up`); the harness does not wait
    free-ports       the reader's fallback the page offers when a port is
                     taken: ` --mqtt-port 0 --alpn-port 0 --api-port 0` is
                     appended to the `ddlocal up` line - the only rewrite
    status=N|any     expected exit status of the block's last command
                     (default 0)
    timeout=SECONDS  how long the block may take (default 120)

A block typed into a terminal in which an earlier block opened a device shell
(`ddlocal device NAME`) is read by that shell, as when a reader types it.
"""
import ctypes
import os
import re
import shutil
import signal
import subprocess
import threading
import time

MARK_RE = re.compile(r"<!--\s*(run|norun):?(.*?)-->\s*\n```sh\n(.*?)\n```", re.S)
FENCE_RE = re.compile(r"^```sh\s*$", re.M)
DONE_RE = re.compile(r"@@WT done (\d+) (\d+)\s*$")
FREE_PORTS = " --mqtt-port 0 --alpn-port 0 --api-port 0"


class WalkthroughError(Exception):
    pass


class Block:
    def __init__(self, attrs, text, line):
        self.attrs = attrs
        self.text = text
        self.line = line
        self.step = attrs.get("step")
        self.terminal = attrs.get("terminal", "main")

    def __repr__(self):
        return "step %s (line %d)" % (self.step, self.line)


def parse(path):
    """Returns the run blocks of the page in order; raises on an unmarked block."""
    with open(path) as f:
        doc = f.read()
    blocks = []
    marked = set()
    for m in MARK_RE.finditer(doc):
        fence = m.start(3) - len("```sh\n")
        marked.add(fence)
        if m.group(1) == "norun":
            continue
        attrs = {}
        for tok in m.group(2).split():
            k, _, v = tok.partition("=")
            attrs[k] = v if v else True
        line = doc.count("\n", 0, fence) + 1
        if "step" not in attrs:
            raise WalkthroughError("%s:%d: a run block needs step=ID" % (path, line))
        blocks.append(Block(attrs, m.group(3), line))
    for m in FENCE_RE.finditer(doc):
        if m.start() not in marked:
            raise WalkthroughError("%s:%d: ```sh block without <!-- run: ... --> or "
                                   "<!-- norun: ... -->" % (path, doc.count("\n", 0, m.start()) + 1))
    steps = [b.step for b in blocks]
    dup = {s for s in steps if steps.count(s) > 1}
    if dup:
        raise WalkthroughError("%s: step ids used twice: %s" % (path, sorted(dup)))
    return blocks


LINK_RE = re.compile(r"\]\(([^)\s]+)\)")
PATH_RE = re.compile(r"`((?:fixtures|tests|docs|scripts)/[A-Za-z0-9_./-]+)`")


def slug(heading):
    """GitHub's anchor for a heading."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    with open(path) as f:
        return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", f.read(), re.M)}


def check_links(path, source):
    """Every relative link of the page leads to a file of the repository (and to a
    heading of it, for #anchors), and every `fixtures/...`, `tests/...`, `docs/...`
    or `scripts/...` path the page names exists."""
    with open(path) as f:
        doc = f.read()
    bad = []
    for m in LINK_RE.finditer(doc):
        target = m.group(1)
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        if not os.path.exists(full):
            bad.append("link to a missing file: %s" % target)
        elif anchor and full.endswith(".md") and anchor not in anchors(full):
            bad.append("link to a missing heading: %s" % target)
    for m in PATH_RE.finditer(doc):
        rel = m.group(1).rstrip(".")
        if "*" not in rel and not os.path.exists(os.path.join(source, rel)):
            bad.append("names a missing file: %s" % rel)
    if bad:
        raise WalkthroughError("%s: %s" % (path, "; ".join(sorted(set(bad)))))


def set_subreaper():
    """Orphans (a device program whose shell died, a daemonised receiver) become
    our children, so cleanup finds every process the walkthrough started."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def descendants(root):
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            parent[int(d)] = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            pass
    out = []
    todo = [root]
    while todo:
        p = todo.pop()
        for c, pp in parent.items():
            if pp == p:
                out.append(c)
                todo.append(c)
    return out


class Terminal:
    """One bash the commands are typed into; its output goes to LOGDIR/NAME.log."""

    def __init__(self, name, cwd, env, logdir):
        self.name = name
        self.lines = []
        self.cond = threading.Condition()
        self.log = open(os.path.join(logdir, "terminal-%s.log" % name), "w")
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc", "-s"], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.seq = 0

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace")
            self.log.write(line)
            self.log.flush()
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)
            self.cond.notify_all()

    def type(self, text):
        self.log.write("$ " + text.replace("\n", "\n> ") + "\n")
        self.log.flush()
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()

    def run(self, text, timeout):
        """Types TEXT and a marker; returns the exit status of its last command."""
        self.seq += 1
        seq = self.seq
        with self.cond:
            start = len(self.lines)
        self.type(text + '\necho "@@WT done %d $?"' % seq)
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    line = self.lines[i]
                    i += 1
                    if line is None:
                        raise WalkthroughError("terminal %s ended (its shell exited)" % self.name)
                    m = DONE_RE.search(line)
                    if m and int(m.group(1)) == seq:
                        return int(m.group(2))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WalkthroughError("terminal %s: no end of the block after %d s"
                                           % (self.name, timeout))
                self.cond.wait(min(left, 1.0))

    def output(self):
        with self.cond:
            return "".join(x for x in self.lines if x is not None)


def stop_all(root_pid, terminals, grace=15.0):
    """Ends everything the walkthrough started: SIGTERM first (ddlocal up stops its
    pipeline cleanly on it), SIGKILL whatever is left after GRACE seconds."""
    for t in terminals.values():
        try:
            t.proc.stdin.close()
        except OSError:
            pass
    pids = descendants(root_pid)
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap()
        if not descendants(root_pid):
            break
        time.sleep(0.1)
    for p in descendants(root_pid):
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    end = time.monotonic() + 5
    while descendants(root_pid) and time.monotonic() < end:
        reap()
        time.sleep(0.05)
    reap()
    for t in terminals.values():
        t.log.close()


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class Run:
    """One pass over one page in a fresh work dir.

    WORK holds symlinks build/, fixtures/ and tests/ to the tree under test, so
    the page's commands, typed "in the repository's top directory", find what
    they name and leave their data dir in WORK."""

    def __init__(self, doc, source, build, work, env_extra=None, log=print):
        self.doc = doc
        self.work = work
        self.logdir = os.path.join(work, "logs-walkthrough")
        os.makedirs(self.logdir, exist_ok=True)
        os.symlink(os.path.abspath(build), os.path.join(work, "build"))
        for d in ("fixtures", "tests", "docs"):
            os.symlink(os.path.join(source, d), os.path.join(work, d))
        self.env = dict(os.environ)
        # A fresh reader: no rc files, no AWS config of the machine's user, Debian's
        # python3 and aws first on PATH (the pages' platform).
        self.env.update({
            "HOME": work, "SHELL": "/bin/bash", "PYTHONDONTWRITEBYTECODE": "1",
            "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
            "AWS_CONFIG_FILE": os.path.join(work, ".aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(work, ".aws-credentials"),
        })
        for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "DDLOCAL_DATA_DIR", "DDLOCAL_CLOCK",
                  "DDLOCAL_DEVICE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                  "AWS_DEFAULT_REGION", "AWS_REGION"):
            self.env.pop(k, None)
        self.env.update(env_extra or {})
        self.terminals = {}
        self.log = log
        self.setup = []

    def terminal(self, name):
        t = self.terminals.get(name)
        if t is None:
            t = Terminal(name, self.work, self.env, self.logdir)
            self.terminals[name] = t
            for b in self.setup:
                st = t.run(b.text, 60)
                if st != 0:
                    raise WalkthroughError("%r in new terminal %s: exit status %d"
                                           % (b, name, st))
        return t

    def execute(self, blocks, checks):
        missing = set(checks) - {b.step for b in blocks}
        if missing:
            raise WalkthroughError("%s: checks for steps the page does not have: %s"
                                   % (self.doc, sorted(missing)))
        for b in blocks:
            text = b.text
            if "free-ports" in b.attrs:
                text, n = re.subn(r"^(\s*ddlocal up\b[^\n&]*?)(\s*&?\s*)$",
                                  lambda m: m.group(1) + FREE_PORTS + m.group(2),
                                  text, count=1, flags=re.M)
                if n != 1:
                    raise WalkthroughError("%r: free-ports but no `ddlocal up` line" % b)
            t = self.terminal(b.terminal)
            self.log("  [%s] %s: %s" % (time.strftime("%H:%M:%S"), b.step,
                                        text.splitlines()[0][:90] if text else ""))
            if "no-wait" in b.attrs:
                t.type(text)
            else:
                st = t.run(text, float(b.attrs.get("timeout", 120)))
                want = b.attrs.get("status", "0")
                if want != "any" and st != int(want):
                    raise WalkthroughError("%r: exit status %d, expected %s\n--- terminal %s:\n%s"
                                           % (b, st, want, t.name, t.output()[-3000:]))
            if "every-terminal" in b.attrs:
                self.setup.append(b)
            check = checks.get(b.step)
            if check is not None:
                check(self)

    def stop(self):
        stop_all(os.getpid(), self.terminals)

    def remove(self):
        shutil.rmtree(self.work, ignore_errors=True)
