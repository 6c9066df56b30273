#!/usr/bin/env python3
"""Writes the replay golden INPUTS (*.jsonl) of this folder. The expected
outputs (*.out, *.err) are produced by ddlocal replay and reviewed by hand;
see README.md. Deterministic: run it again and nothing changes."""
import calendar, json, struct

T0 = calendar.timegm((2026, 11, 28, 10, 0, 0))  # 2026-11-28T10:00:00Z, epoch seconds


def iso(s):
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s))


def cbor(v):
    """Minimal CBOR encoder: definite maps/arrays, text keys, smallest ints."""
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        for ai, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
            if n < 1 << (8 * struct.calcsize(fmt)):
                return bytes([major << 5 | ai]) + struct.pack(fmt, n)
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, str):
        b = v.encode()
        return head(3, len(b)) + b
    if isinstance(v, list):
        return head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        return head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())
    raise TypeError(v)


def long_report(rid, bytes_out):
    # Shape of the Python Device Defender agent (wire-samples.md §1): deltas.
    return {"header": {"report_id": rid, "version": "1.0"},
            "metrics": {"network_stats": {"bytes_in": 96, "bytes_out": bytes_out,
                                          "packets_in": 2, "packets_out": 3},
                        "listening_tcp_ports": {"ports": [{"port": 22, "interface": "eth0"}],
                                                "total": 1},
                        "tcp_connections": {"established_connections": {
                            "connections": [{"remote_addr": "192.0.2.10:8883",
                                             "local_interface": "eth0",
                                             "local_port": 50000}], "total": 1}}}}


def short_report_text(rid, bytes_out):
    # Short keys with the embedded C SDK's spacing (wire-samples.md §3).
    return ('{"hed": {"rid": %d,"v": "1.0"},"met": {"tp": {"pts": [{"pt": 22}],"t": 1},'
            '"ns": {"bi": 96,"bo": %d,"pi": 2,"po": 3},"tc": {"ec": {"cs": [{"lp": 50000,'
            '"rad": "192.0.2.10:8883"}],"t": 1}}}}' % (rid, bytes_out))


def write(path, lines):
    with open(path, "w") as f:
        for line in lines:
            f.write(line if isinstance(line, str) else json.dumps(line, separators=(",", ":")))
            f.write("\n")


def module4():
    """Thing03's agent reports every 300 s (-i 300): 150 bytes out per report,
    then, once startdevice.py is compromised, 3000 bytes out per report."""
    lines = ["# Module 4: SensorDevice03 / Thing03, one report every 5 minutes.",
             "# 150 bytes out per report, then 3000 once the telemetry is compromised."]
    for i in range(6):
        t = T0 + 300 * (i + 1) + 7
        out = 150 if i < 3 else 3000
        if i == 1:
            lines.append({"thing": "Thing03", "time": iso(t), "json": short_report_text(t, out)})
        elif i == 2:
            lines.append({"thing": "Thing03", "time": t * 1000,
                          "cbor": cbor(long_report(t, out)).hex()})
        else:
            lines.append({"thing": "Thing03", "time": t * 1000, "report": long_report(t, out)})
    write("module4.jsonl", lines)


def module4_bad():
    """Lines the engine cannot use: each is reported with its number and skipped."""
    t = T0 + 307
    good = lambda s, out: {"thing": "Thing03", "time": s * 1000, "report": long_report(s, out)}
    bad_custom = long_report(t + 300, 150)
    bad_custom["custom_metrics"] = {"cpu_usage": {"number": 1}}  # must be [{"number": 1}]
    write("module4-bad.jsonl", [
        good(t, 150),
        '{"thing":"Thing03","time":',                                   # not JSON
        {"thing": "Thing03", "time": (t + 300) * 1000, "report": bad_custom},
        {"thing": "Thing 03", "time": (t + 300) * 1000, "report": long_report(t + 300, 150)},
        {"thing": "Thing03", "time": (t - 1) * 1000, "report": long_report(t - 1, 150)},
        {"thing": "Thing03", "time": (t + 300) * 1000, "cbor": "zz"},
        {"thing": "Thing03", "time": (t + 300) * 1000, "report": {"header": {"report_id": 1}}},
        {"thing": "Thing03", "time": (t + 300) * 1000},
        good(t + 600, 3000),
    ])


def module3():
    """SensorDevice01/02 (client id = thing name) connect, publish one float,
    disconnect, once a minute; after 15 minutes Thing02 is compromised and
    sends 3000 random characters instead."""
    lines = ["# Module 3: Thing01 and Thing02 publish once a minute; Thing02 is compromised",
             "# at 10:15 and sends 3000-byte payloads instead of a float."]
    for minute in range(25):
        for n, thing in ((1, "Thing01"), (2, "Thing02")):
            t = (T0 + 60 * minute + 5 + n) * 1000
            size = 3000 if (thing == "Thing02" and minute >= 15) else 5
            topic = "temperature-device-0%d" % n
            lines.append({"thing": thing, "time": t,
                          "event": {"type": "connect", "sourceIp": "198.51.100.%d" % n}})
            lines.append({"thing": thing, "time": t + 100,
                          "event": {"type": "message-sent", "topic": topic, "size": size}})
            lines.append({"thing": thing, "time": t + 200, "event": {"type": "disconnect"}})
    write("module3.jsonl", lines)


if __name__ == "__main__":
    module4()
    module4_bad()
    module3()
