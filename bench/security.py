"""Sign + verify cost per message of the security plugins: psk (the baseline, HMAC), jwt
(ed25519 and a cached token) and x509 with each key type a site may have (EC P-256,
ed25519, RSA 2048 and RSA 4096, Puppet's default), measured in the same run.

For each plugin, one round is what a request costs end to end in security work: the
client encodes (signs) an ``rpcutil ping`` request and a node decodes (verifies) it; then
the node encodes a reply and the client decodes it. So a round is two signatures and two
verifications, plus the JSON work every plugin shares. ``no security`` measures that
JSON work alone (to_json / from_json of the same request and reply).

x509 keeps verified certificates (by their bytes), so a steady stream from the same
senders pays only signature, dates and CRL; the first message from a sender also
verifies its chain: shown as ``first message`` (cache cleared each time).

    python bench/security.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from mcollective.message import Reply, Request
from mcollective.security import (
    SecurityProvider,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
)
from mcollective_security_jwt import keys as jwt_keys
from mcollective_security_jwt import tokens
from mcollective_security_jwt.credentials import Credentials, OwnToken
from mcollective_security_jwt.provider import JwtSecurity
from mcollective_security_psk.keys import SharedKey
from mcollective_security_psk.provider import PskSecurity
from mcollective_security_x509 import pki
from mcollective_security_x509.credentials import Own
from mcollective_security_x509.provider import X509Security

Pair = tuple[SecurityProvider, SecurityProvider]


def messages(caller: str) -> tuple[Request, Reply]:
    request = Request(agent="rpcutil", collective="mcollective", sender="client1",
                      caller=caller, message={"action": "ping", "data": {}},
                      filter={"fact": [], "cf_class": [], "agent": ["rpcutil"],
                              "identity": [], "compound": []}, ttl=60,
                      reply_to="replies.client1")
    reply = Reply(request=request.id, sender="node1", agent="rpcutil",
                  data={"pong": int(time.time())})
    return request, reply


def psk() -> Pair:
    key = SharedKey(b"0123456789abcdef" * 4, "bench")
    return PskSecurity(key, "user=alice"), PskSecurity(key, "user=alice")


def jwt() -> Pair:
    issuer, alice, node = jwt_keys.generate(), jwt_keys.generate(), jwt_keys.generate()
    hour = timedelta(hours=1)
    client_token = tokens.issue_client(issuer, callerid="jwt=alice", agents=["*"],
                                       public_key=jwt_keys.public_hex(alice), validity=hour)
    server_token = tokens.issue_server(issuer, identity="node1", collectives=["mcollective"],
                                       public_key=jwt_keys.public_hex(node), validity=hour)
    issuers = tokens.Issuers([issuer.public_key()])
    client = JwtSecurity(Credentials(issuers, alice, OwnToken(tokens.parse(client_token))),
                         role="client")
    server = JwtSecurity(Credentials(issuers, node, OwnToken(tokens.parse(server_token))),
                         role="server")
    return client, server


def _key(kind: str) -> Any:
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def _cert(cn: str, key: Any, issuer: x509.Name, signer: Any, ca: bool) -> x509.Certificate:
    now = datetime.now(UTC)
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, algorithm))


def x509_pair(kind: str, directory: Path) -> tuple[X509Security, X509Security]:
    """A root and an intermediate CA (as Puppet 7 has; both of ``kind``) with a CRL
    each, and the client and node certificates and keys of ``kind``."""
    root_key, ca_key = _key(kind), _key(kind)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Root CA")])
    root = _cert("Bench Root CA", root_key, root_name, root_key, True)
    ca = _cert("Bench CA", ca_key, root.subject, root_key, True)
    (directory / "ca.pem").write_bytes(b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in (ca, root)))
    now = datetime.now(UTC)
    crls = []
    for cert, key in ((ca, ca_key), (root, root_key)):
        algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
        crls.append(x509.CertificateRevocationListBuilder().issuer_name(cert.subject)
                    .last_update(now).next_update(now + timedelta(days=1))
                    .sign(key, algorithm))
    (directory / "crl.pem").write_bytes(b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in crls))
    authority = pki.Authority(directory / "ca.pem", directory / "crl.pem")
    out = []
    for name, role in (("admin", "client"), ("node1", "server")):
        key = _key(kind)
        cert = _cert(name, key, ca.subject, ca_key, False)
        own = Own(key=key, cert=cert, certname=name, cert_path=directory / f"{name}.pem",
                  wire=pki.encode_certificate(cert))
        out.append(X509Security(own, authority, role=role,  # type: ignore[arg-type]
                                clients=("admin",)))
    return out[0], out[1]


def round_trip(client: SecurityProvider, server: SecurityProvider,
               before: Callable[[], None] | None = None) -> Callable[[], None]:
    request, reply = messages(client.caller_id())

    def run() -> None:
        if before is not None:
            before()
        decode_request(encode_request(request, client), server)
        decode_reply(encode_reply(reply, server), client)

    return run


def plain() -> Callable[[], None]:
    request, reply = messages("user=alice")

    def run() -> None:
        Request.from_json(request.to_json())
        Reply.from_json(reply.to_json())

    return run


def measure(run: Callable[[], None], rounds: int) -> tuple[float, float]:
    """Median and p90 microseconds of one round, over ``rounds`` after a warm-up."""
    for _ in range(min(50, rounds)):
        run()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases: list[tuple[str, Callable[[], None], int]] = [
            ("no security (JSON only)", plain(), args.rounds),
            ("psk (HMAC-SHA256)", round_trip(*psk()), args.rounds),
            ("jwt (ed25519, cached token)", round_trip(*jwt()), args.rounds),
        ]
        for kind in ("ec", "ed25519", "rsa2048", "rsa4096"):
            directory = Path(tmp) / kind
            directory.mkdir()
            client, server = x509_pair(kind, directory)
            label = {"ec": "EC P-256", "ed25519": "ed25519", "rsa2048": "RSA 2048",
                     "rsa4096": "RSA 4096"}[kind]
            # RSA 4096 signing is slow: fewer rounds keep the run short.
            rounds = args.rounds if kind != "rsa4096" else max(50, args.rounds // 10)
            cases.append((f"x509 {label}", round_trip(client, server), rounds))

            def clear(a: pki.Authority = server.authority) -> None:
                a._cache.clear()

            cases.append((f"x509 {label}, first message", round_trip(client, server, clear),
                          max(50, rounds // 4)))
        results = [(name, *measure(run, rounds)) for name, run, rounds in cases]
    base = results[1][1]
    print(f"{'plugin':38} {'median µs':>10} {'p90 µs':>10} {'/ psk':>7}")
    print("(one round: sign + verify a request, sign + verify a reply)")
    for name, median, p90 in results:
        print(f"{name:38} {median:10.0f} {p90:10.0f} {median / base:7.1f}")


if __name__ == "__main__":
    main()
