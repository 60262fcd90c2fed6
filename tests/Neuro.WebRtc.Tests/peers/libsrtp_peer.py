"""libsrtp (Debian's, through pylibsrtp) as the reference SRTP implementation for the SRTP tests.

Reads one JSON object on stdin:
  {"profile": "AES128_CM_SHA1_80" | "AEAD_AES_128_GCM", "key": hex(master key + master salt),
   "protect_rtp": [hex...], "protect_rtcp": [hex...], "unprotect_rtp": [hex...], "unprotect_rtcp": [hex...]}
and prints one JSON object with the same keys, each packet replaced by its result hex or "error: ...".
Run it with /usr/bin/python3.
"""
import json
import sys

from pylibsrtp import Error, Policy, Session

PROFILES = {
    "AES128_CM_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AEAD_AES_128_GCM": Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
}


def run(session, method, packets):
    out = []
    for packet in packets:
        try:
            out.append(getattr(session, method)(bytes.fromhex(packet)).hex())
        except Error as exc:
            out.append("error: %s" % exc)
    return out


def main():
    request = json.loads(sys.stdin.read())
    key = bytes.fromhex(request["key"])
    profile = PROFILES[request["profile"]]
    tx = Session(policy=Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    rx = Session(policy=Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile))
    print(json.dumps({
        "protect_rtp": run(tx, "protect", request.get("protect_rtp", [])),
        "protect_rtcp": run(tx, "protect_rtcp", request.get("protect_rtcp", [])),
        "unprotect_rtp": run(rx, "unprotect", request.get("unprotect_rtp", [])),
        "unprotect_rtcp": run(rx, "unprotect_rtcp", request.get("unprotect_rtcp", [])),
    }))


if __name__ == "__main__":
    main()
