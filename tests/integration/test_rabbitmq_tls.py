"""amqps:// against a real RabbitMQ TLS listener (a private node, never the shared one).

The module makes a CA, a server certificate (CN=localhost, names DNS:localhost
and IP:127.0.0.1) and a client certificate with the `openssl` CLI, plus a
second, unrelated CA with its own client certificate, and starts a private
RabbitMQ node (scripts/services.sh with its own dir, ports and node name) with
an ssl listener: `ssl_options.verify = verify_peer`,
`fail_if_no_peer_cert = false`, so the node accepts clients without a
certificate and verifies the certificate of those that present one.

Checks: SQLite → amqps queue → SQLite exact with the server verified
(tls_ca); mutual TLS (tls_cert/tls_key) exact; a client certificate from the
wrong CA refused by the broker; the wrong CA on our side, the wrong host name
(the certificate has no DNS name 127.0.0.1), TLS to the plain AMQP port, a
missing CA file and TLS options on amqp:// each fail with an error naming the
broker (host:port) or the option. Targets are compared with Python's sqlite3.
"""

import json
import shutil
import sqlite3
import subprocess
import uuid

import pytest

from brokers import PrivateBroker, free_ports, sqlite_state
from runner import run

ROWS = 30_000


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr}"


def make_ca(d, name):
    openssl("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-keyout", f"{name}.key", "-out", f"{name}.pem",
            "-days", "3", "-subj", f"/CN=sluice test {name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_cert(d, name, ca, cn, ext):
    (d / f"{name}.ext").write_text(ext + "\nbasicConstraints=CA:FALSE\n")
    openssl("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "3", "-extfile", f"{name}.ext",
            cwd=d)


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.fail("the openssl CLI is missing: run scripts/install-deps.sh", pytrace=False)
    d = tmp_path_factory.mktemp("amqps")
    certs = d / "certs"
    certs.mkdir()
    make_ca(certs, "ca")
    make_ca(certs, "other_ca")
    make_cert(certs, "server", "ca", "localhost",
              "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth")
    make_cert(certs, "client", "ca", "sluice-client", "extendedKeyUsage=clientAuth")
    make_cert(certs, "stranger", "other_ca", "sluice-stranger", "extendedKeyUsage=clientAuth")
    (tls_port,) = free_ports(1)
    conf = d / "tls.conf"
    conf.write_text(f"""listeners.ssl.default = 127.0.0.1:{tls_port}
ssl_options.cacertfile = {certs / 'ca.pem'}
ssl_options.certfile = {certs / 'server.pem'}
ssl_options.keyfile = {certs / 'server.key'}
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
""")
    with PrivateBroker("rabbitmq", d / "services",
                       {"SLUICE_RABBITMQ_EXTRA_CONF": str(conf)}) as node:
        node.tls_port = tls_port
        node.certs = certs
        yield node


def make_source(path, rows):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount REAL, note TEXT)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)",
                    ((i, f"name-{i}", i * 0.25, None if i % 13 == 0 else "z" * (i % 200))
                     for i in range(1, rows + 1)))
    con.commit()
    con.close()


def amqps(node, queue, host="localhost", port=None, **opts):
    q = "&".join([f"queue={queue}"] + [f"{k}={v}" for k, v in opts.items()])
    return f"amqps://guest:guest@{host}:{port or node.tls_port}/%2f?{q}"


def round_trip(tmp_path, uri, rows=ROWS, workers=3):
    """Export a fresh source through `uri`, import it back; both stats."""
    src, dst = tmp_path / f"src-{uuid.uuid4().hex[:6]}.db", tmp_path / "dst.db"
    make_source(src, rows)
    ex = json.loads(run("export", f"sqlite://{src}?table=t", "--to", uri, "--part-size", "64KiB",
                        "-q", "--stats-json", "-", check=True).stdout)
    im = json.loads(run("import", uri + "&idle_ms=500", "--into", f"sqlite://{dst}?table=t",
                        "--workers", workers, "-q", "--stats-json", "-", check=True).stdout)
    assert ex["rows"] == rows and ex["parts"] > 2, ex
    assert im["rows"] == rows, im
    assert sqlite_state(dst) == sqlite_state(src)
    return ex, im


def test_export_import_over_amqps_with_server_verification(tls_node, tmp_path):
    ca = tls_node.certs / "ca.pem"
    round_trip(tmp_path, amqps(tls_node, f"tls-{uuid.uuid4().hex[:8]}", tls_ca=ca))


def test_mutual_tls_with_a_client_certificate(tls_node, tmp_path):
    c = tls_node.certs
    round_trip(tmp_path, amqps(tls_node, f"mtls-{uuid.uuid4().hex[:8]}", tls_ca=c / "ca.pem",
                               tls_cert=c / "client.pem", tls_key=c / "client.key"),
               rows=5_000, workers=2)


def test_client_certificate_from_another_ca_is_refused(tls_node, tmp_path):
    c = tls_node.certs
    uri = amqps(tls_node, "never", tls_ca=c / "ca.pem", tls_cert=c / "stranger.pem",
                tls_key=c / "stranger.key")
    r = run("import", uri, "--into", f"sqlite://{tmp_path / 'x.db'}?table=t", "-q")
    assert r.returncode == 1, r.stderr
    assert f"localhost:{tls_node.tls_port}" in r.stderr, r.stderr
    assert "did not accept the client certificate" in r.stderr, r.stderr
    assert "stranger.pem" in r.stderr, r.stderr


def test_wrong_ca_fails_clearly_and_verify_false_only_encrypts(tls_node, tmp_path):
    other = tls_node.certs / "other_ca.pem"
    queue = f"tls-noverify-{uuid.uuid4().hex[:8]}"
    src = tmp_path / "src.db"
    make_source(src, 100)
    r = run("export", f"sqlite://{src}?table=t", "--to", amqps(tls_node, queue, tls_ca=other),
            "-q")
    assert r.returncode == 1, r.stderr
    assert f"localhost:{tls_node.tls_port}" in r.stderr, r.stderr
    assert "is not trusted" in r.stderr and "other_ca.pem" in r.stderr, r.stderr
    assert "tls_verify=false" in r.stderr, r.stderr
    # Encryption without verification connects despite the unrelated CA.
    round_trip(tmp_path, amqps(tls_node, queue, tls_ca=other, tls_verify="false"), rows=2_000,
               workers=1)


def test_wrong_host_name_fails_clearly(tls_node, tmp_path):
    # The certificate lists DNS:localhost and IP:127.0.0.1; rabbitmq-c matches
    # DNS names only, so 127.0.0.1 is not a name of this server for it.
    src = tmp_path / "src.db"
    make_source(src, 100)
    r = run("export", f"sqlite://{src}?table=t", "--to",
            amqps(tls_node, "never", host="127.0.0.1", tls_ca=tls_node.certs / "ca.pem"), "-q")
    assert r.returncode == 1, r.stderr
    assert f"127.0.0.1:{tls_node.tls_port}" in r.stderr, r.stderr
    assert "is not for host '127.0.0.1'" in r.stderr and "DNS:localhost" in r.stderr, r.stderr


def test_tls_to_the_plain_amqp_port_fails_clearly(tls_node, tmp_path):
    r = run("import", amqps(tls_node, "never", port=tls_node.port,
                            tls_ca=tls_node.certs / "ca.pem"),
            "--into", f"sqlite://{tmp_path / 'x.db'}?table=t", "-q", timeout=60)
    assert r.returncode == 1, r.stderr
    assert f"localhost:{tls_node.port}" in r.stderr, r.stderr
    assert "TLS handshake" in r.stderr, r.stderr


def test_tls_option_errors_name_the_option(tmp_path):
    # No broker involved: both fail before connecting.
    r = run("import", "amqp://guest:guest@127.0.0.1:1/%2f?queue=q&tls_ca=/etc/hostname",
            "--into", f"sqlite://{tmp_path / 'x.db'}?table=t", "-q")
    assert r.returncode == 2 and "amqps://" in r.stderr, r.stderr
    missing = tmp_path / "no-such-ca.pem"
    r = run("import", f"amqps://guest:guest@127.0.0.1:1/%2f?queue=q&tls_ca={missing}",
            "--into", f"sqlite://{tmp_path / 'x.db'}?table=t", "-q")
    assert r.returncode in (1, 2), r.stderr
    assert f"tls_ca='{missing}' cannot be read" in r.stderr, r.stderr
