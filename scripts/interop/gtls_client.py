"""ngtcp2's example client (gtlsclient, GnuTLS) over HTTP/3. It cannot
send custom headers, so it runs the cases that need no credentials
(auth "none") and a 20-stream multiplexing run of /healthz on one
connection. It does not verify certificates (CLIENTS.md).
Prints one JSON line per case: {client, case, status, proto, body}.
Usage: python3 gtls_client.py HOST PORT CASES_JSON WORKDIR"""
import json
import os
import re
import subprocess
import sys

host, port, cases_file, work = sys.argv[1:5]
base = "https://%s:%s" % (host, port)


def run(c, n=1):
    d = os.path.join(work, "gtls-" + c["name"])
    os.makedirs(d, exist_ok=True)
    cmd = ["gtlsclient", "--exit-on-all-streams-close", "--no-quic-dump", "--download=" + d, "--timeout=10s"]
    if n > 1:
        cmd += ["-n", str(n)]
    if c["method"] != "GET":
        bf = os.path.join(d, "body.json")
        with open(bf, "w") as f:
            f.write(c.get("body") or "")
        cmd += ["-m", c["method"], "-d", bf]
    cmd += [host, port, base + c["path"]]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    out = p.stdout + p.stderr
    statuses = re.findall(r"\[:status: (\d+)\]", out)
    protos = re.findall(r"\[x-femtoclaw-proto: ([^\]]+)\]", out)
    fn = os.path.join(d, c["path"].rstrip("/").split("/")[-1])
    body = open(fn, encoding="utf-8", errors="replace").read() if os.path.exists(fn) else ""
    return statuses, protos, body


for c in json.load(open(cases_file)):
    if c["auth"] != "none" or c.get("only"):
        continue
    statuses, protos, body = run(c)
    print(json.dumps({"client": "gtlsclient", "case": c["name"], "status": int(statuses[0]) if statuses else 0,
                      "proto": protos[0] if protos else None, "body": body[:2000]}))
# Multiplexing: 20 concurrent request streams on one connection.
c = {"name": "healthz-x20", "method": "GET", "path": "/healthz"}
statuses, protos, body = run(c, n=20)
ok = len(statuses) == 20 and set(statuses) == {"200"} and len(protos) == 20 and set(protos) == {"HTTP/3.0"}
print(json.dumps({"client": "gtlsclient", "case": "healthz-x20", "status": 200 if ok else 0,
                  "proto": "HTTP/3.0" if ok else "%d statuses %s, protos %s" % (len(statuses), sorted(set(statuses)), sorted(set(protos))),
                  "body": body[:2000]}))
