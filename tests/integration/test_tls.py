#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""amqps:// against a private RabbitMQ with a TLS listener that requires a
client certificate: CA verification, host name verification, client
certificates, and what the user sees when any of them is wrong."""

import os
import pwd
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import harness  # noqa: E402
from harness import Broker  # noqa: E402
from fleet import Fleet, binary, write_config  # noqa: E402


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """ca.pem; server.pem/key for CN=localhost (no IP SAN); client.pem/key;
    other-ca.pem, unrelated."""
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=muster test {ca}",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem", cwd=d)
    for name, ext in (("server", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        (Path(d) / f"{name}.ext").write_text(ext + "\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={'localhost' if name == 'server' else 'node1'}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)


class TlsBroker(Broker):
    def __init__(self, pki):
        super().__init__(name_prefix="muster-tls")
        self.pki = pki
        self.tls_port = None

    def _prepare(self):
        super()._prepare()
        (self.tls_port,) = harness.pick_ports(1)
        cfg = Path(self.dir) / "rabbitmq.config"
        text = cfg.read_text()
        ssl = (f'{{ssl_listeners, [{{"127.0.0.1", {self.tls_port}}}]}},\n'
               f'   {{ssl_options, [{{cacertfile, "{self.pki}/ca.pem"}}, {{certfile, "{self.pki}/server.pem"}},\n'
               f'                  {{keyfile, "{self.pki}/server.key"}}, {{verify, verify_peer}},\n'
               f'                  {{fail_if_no_peer_cert, true}}]}},')
        cfg.write_text(text.replace("{ssl_listeners, []},", ssl))


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="muster-pki-")
        make_pki(cls.pki)
        try:
            pw = pwd.getpwnam("rabbitmq")
            os.chmod(cls.pki, 0o755)
            for f in os.listdir(cls.pki):
                os.chown(os.path.join(cls.pki, f), pw.pw_uid, pw.pw_gid)
        except KeyError:
            pass
        cls.broker = TlsBroker(cls.pki)
        cls.broker.start()
        cls.tls_url = f"amqps://localhost:{cls.broker.tls_port}/"
        cls.fleet = Fleet(cls.tls_url)
        tls = {"broker": {"tls_ca": f"{cls.pki}/ca.pem", "tls_cert": f"{cls.pki}/client.pem",
                          "tls_key": f"{cls.pki}/client.key"}}
        cls.node = cls.fleet.add("node1", extra=tls)
        cls.node.start()

    @classmethod
    def tearDownClass(cls):
        cls.fleet.close()
        cls.broker.stop()
        subprocess.run(["rm", "-rf", cls.pki])

    def ping(self, **broker):
        conf = self.fleet.root / "tls-client.conf"
        keys = {"url": self.tls_url, "tls_ca": f"{self.pki}/ca.pem", "tls_cert": f"{self.pki}/client.pem",
                "tls_key": f"{self.pki}/client.key", "connect_timeout": "3s"}
        keys.update(broker)
        write_config(conf, {"broker": {k: v for k, v in keys.items() if v is not None},
                            "security": {"psk_file": self.fleet.psk},
                            "client": {"discovery_timeout": "1s", "timeout": "8s"}})
        return subprocess.run([binary("muster"), "--config", str(conf), "ping"], capture_output=True, text=True,
                              timeout=60)

    def test_verified_with_client_certificate(self):
        self.assertIn("Connected to broker amqps://localhost:", self.node.stderr())
        r = self.ping()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("node1", r.stdout)

    def test_wrong_ca(self):
        r = self.ping(tls_ca=f"{self.pki}/other-ca.pem")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"cannot connect to a broker: amqps://localhost:\d+/: cannot connect: .*(certificate|SSL)")

    def test_missing_ca_file(self):
        r = self.ping(tls_ca=f"{self.pki}/nope.pem")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot load CA file", r.stderr)

    def test_no_client_certificate(self):
        r = self.ping(tls_cert=None, tls_key=None)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("cannot connect to a broker", r.stderr)

    def test_host_name_verification(self):
        url = f"amqps://127.0.0.1:{self.broker.tls_port}/"
        r = self.ping(url=url)
        self.assertEqual(r.returncode, 1, "the certificate names localhost, not 127.0.0.1")
        self.assertIn("cannot connect", r.stderr)
        r = self.ping(url=url, tls_verify_hostname="no")
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    from harness import main
    main()
