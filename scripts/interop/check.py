"""Checks driver results against cases.json: status, body substrings, the
X-Femtoclaw-Proto header the server sets from r.Proto ("HTTP/3.0"), and
(when the client reports it) the client-side protocol ("h3").
Prints PASS/FAIL lines and exits 1 on any FAIL.
Usage: python3 check.py CASES_JSON RESULTS_JSONL CLIENT [CASE ...]
(no CASE: every case meant for CLIENT: cases without "only", or with
"only" naming it; gtlsclient, which cannot send headers, gets the cases
with auth "none")."""
import json
import sys

cases = {c["name"]: c for c in json.load(open(sys.argv[1]))}
results = {}
for line in open(sys.argv[2]):
    line = line.strip()
    if line.startswith("{"):
        r = json.loads(line)
        if r.get("client") == sys.argv[3]:
            results[r["case"]] = r
client = sys.argv[3]
want = sys.argv[4:] or [n for n, c in cases.items()
                        if c.get("only", client) == client and (client != "gtlsclient" or c["auth"] == "none")]
fails = 0
for name in want:
    c, r = cases[name], results.get(name)
    why = []
    if r is None:
        why.append("no result")
    else:
        if r["status"] != c["status"]:
            why.append("status %s, want %s" % (r["status"], c["status"]))
        for s in c["contains"]:
            if s not in r["body"]:
                why.append("body lacks %s" % s)
        if r.get("proto") != "HTTP/3.0":
            why.append("server saw %r, want HTTP/3.0" % r.get("proto"))
        if r.get("h3") and any(p != "h3" for p in r["h3"].split(",")):
            why.append("client protocol %r" % r.get("h3"))
    if why:
        fails += 1
        print("FAIL %-9s %-28s %s | %s" % (sys.argv[3], name, "; ".join(why), (r or {}).get("body", "")[:300]))
    else:
        print("PASS %-9s %-28s %d proto=%s%s" % (sys.argv[3], name, r["status"], r["proto"],
                                                 " client=" + r["h3"] if r.get("h3") else ""))
sys.exit(1 if fails else 0)
