"""libcurl (GnuTLS + ngtcp2, bookworm-backports) through pycurl.

Mode h3 (client "pycurl"): HTTP/3 only to the server, verifying its
certificate against the PEM (CAINFO); h3 = "h3" when libcurl reports
HTTP/3 for the transfer.
Mode h1 (client "caddy"): plain HTTP/1.1 to a Caddy gateway that
reverse-proxies to the server over HTTP/3; the server's X-Femtoclaw-Proto
header (and Caddy's Via: 3.0) show what the upstream hop spoke.
Prints one JSON line per case: {client, case, status, proto, body, h3, via}.
Usage: /usr/bin/python3 pycurl_client.py MODE BASE_URL CERT TOKEN CASES_JSON"""
import io
import json
import sys

import pycurl

mode, base, cert, token, cases_file = sys.argv[1:6]
client = "pycurl" if mode == "h3" else "caddy"
for c in json.load(open(cases_file)):
    if c.get("only"):
        continue
    cu = pycurl.Curl()
    buf, hdrs = io.BytesIO(), {}

    def header(line, hdrs=hdrs):
        line = line.decode("iso-8859-1").strip()
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()

    cu.setopt(pycurl.URL, base + c["path"])
    if mode == "h3":
        cu.setopt(pycurl.HTTP_VERSION, 31)  # CURL_HTTP_VERSION_3ONLY
        cu.setopt(pycurl.CAINFO, cert)
        cu.setopt(pycurl.SSL_VERIFYPEER, 1)
        cu.setopt(pycurl.SSL_VERIFYHOST, 2)
    else:
        cu.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
    cu.setopt(pycurl.TIMEOUT, 30)
    h = []
    if c["auth"] == "good":
        h.append("Authorization: Bearer " + token)
    elif c["auth"] == "bad":
        h.append("Authorization: Bearer not-the-token")
    body = c.get("body")
    if c.get("big"):
        body = '{"message":{"content":"' + "x" * c["big"] + '"}}'
    if body is not None:
        h.append("Content-Type: application/json")
        cu.setopt(pycurl.POSTFIELDS, body)
    if c["method"] == "GET":
        cu.setopt(pycurl.HTTPGET, 1)
    cu.setopt(pycurl.HTTPHEADER, h)
    cu.setopt(pycurl.WRITEDATA, buf)
    cu.setopt(pycurl.HEADERFUNCTION, header)
    try:
        cu.perform()
        status = cu.getinfo(pycurl.RESPONSE_CODE)
        ver = cu.getinfo(pycurl.INFO_HTTP_VERSION)  # 30 = HTTP/3
    except pycurl.error as e:
        status, ver = 0, 0
        buf.write(("curl error: %s" % (e,)).encode())
    cu.close()
    if mode == "h3":
        proto = "h3" if ver == 30 else "http-version-%s" % ver
    else:
        proto = ""  # client side is HTTP/1.1 by design; the upstream hop is checked
    print(json.dumps({"client": client, "case": c["name"], "status": status, "proto": hdrs.get("x-femtoclaw-proto"),
                      "body": buf.getvalue().decode("utf-8", "replace")[:2000], "h3": proto, "via": hdrs.get("via", "")}))
    sys.stdout.flush()
