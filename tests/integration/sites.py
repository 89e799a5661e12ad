# SPDX-License-Identifier: LGPL-2.1-or-later
"""Two muster sites on this machine, each its own private RabbitMQ node,
joined the way muster(7) ("TWO SITES") tells an administrator to:

- site B's broker federates muster.broadcast and muster.directed from site
  A's (requests asked at A reach B's nodes);
- site A's broker federates muster.registration from site B's (B's
  registrations reach A's collector);
- site A's broker runs a shovel from B's muster.reply to A's default
  exchange (the replies of B's nodes, which run with
  responder.federated_replies=yes, reach the asking client's direct
  reply-to at A).

The links run as the user "federation" with the permissions muster(7)
gives it. Between the sites sits a TCP forwarder per direction (LinkProxy),
the WAN, which cut() takes down the way a network outage does: every
connection through it drops and new ones are refused, while the
federation's queues and bindings stay as they are.

    with TwoSites() as s:
        s.a, s.b                 # harness.Broker of each site
        s.a_url, s.b_url         # what muster parts of each site connect to
        s.wait_linked()
        s.cut(); s.restore()
"""

import base64
import hashlib
import json
import os
import socket
import sys
import threading
import time

import harness
from harness import Broker

PLUGINS = ("rabbitmq_federation", "rabbitmq_shovel")
FED_USER = "federation"
FED_PASSWORD = "federation-secret"
# What the links need on the other site's broker (muster(7)): the federation
# links declare "federation: ..." exchanges and queues there, the reply
# shovel one server-named (amq.gen-...) queue bound to muster.reply.
FED_CONFIGURE = r"^(federation: |amq\.gen-)"
FED_WRITE = r"^(federation: |amq\.gen-)"
FED_READ = r"^(federation: |amq\.gen-|muster\.(broadcast|directed|registration|reply)$)"


class LinkProxy:
    """A TCP forwarder from 127.0.0.1:port to 127.0.0.1:target, the WAN
    between the sites. cut() drops every connection and refuses new ones;
    restore() listens again on the same port."""

    def __init__(self, target_port):
        (self.port,) = harness.pick_ports(1)
        self.target = target_port
        self.lock = threading.Lock()
        self.conns = set()
        self.listener = None
        self.restore()

    def restore(self):
        with self.lock:
            if self.listener:
                return
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.port))
            s.listen(128)
            self.listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, ls):
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                if self.listener is not ls:      # cut meanwhile
                    c.close()
                    u.close()
                    return
                self.conns |= {c, u}
            threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self.lock:
            for s in (src, dst):
                if s in self.conns:
                    self.conns.discard(s)
                    s.close()

    def cut(self):
        with self.lock:
            ls, self.listener = self.listener, None
            conns, self.conns = self.conns, set()
        if ls:
            try:
                ls.shutdown(socket.SHUT_RDWR)   # wakes the accept() thread
            except OSError:
                pass
            ls.close()
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def _ctl(broker, *args):
    r = broker.ctl(*args, timeout=120)
    if r.returncode != 0:
        raise harness.BrokerError(f"{broker.node}: rabbitmqctl {' '.join(args)}: exit {r.returncode}\n"
                                  f"{r.stdout}{r.stderr}")
    return r


def _json_rows(broker, *args):
    r = broker.ctl(*args, "-q", "--formatter", "json", timeout=60)
    if r.returncode != 0:
        return []
    try:
        return json.loads(r.stdout or "[]")
    except ValueError:
        return []


def site_commands(site, other_uri, prefix="muster", vhost="/", reconnect_delay=5):
    """The rabbitmqctl commands of muster(7), TWO SITES, for site "a" (the
    asking, monitoring site) or "b" (the answering site), other_uri being
    the other site's broker as the links reach it."""
    p = prefix.replace(".", r"\.")
    user = [["add_user", FED_USER, FED_PASSWORD],
            ["set_permissions", "-p", vhost, FED_USER, FED_CONFIGURE, FED_WRITE,
             FED_READ.replace(r"muster\.", p + r"\.")]]
    if site == "b":
        return user + [
            ["set_parameter", "-p", vhost, "federation-upstream", "site-a",
             json.dumps({"uri": other_uri, "reconnect-delay": reconnect_delay})],
            ["set_policy", "-p", vhost, "--apply-to", "exchanges", "muster-requests-from-site-a",
             rf"^{p}\.(broadcast|directed)$", json.dumps({"federation-upstream": "site-a"})],
        ]
    return user + [
        ["set_parameter", "-p", vhost, "federation-upstream", "site-b",
         json.dumps({"uri": other_uri, "reconnect-delay": reconnect_delay})],
        ["set_policy", "-p", vhost, "--apply-to", "exchanges", "muster-registrations-from-site-b",
         rf"^{p}\.registration$", json.dumps({"federation-upstream": "site-b"})],
        ["set_parameter", "-p", vhost, "shovel", "muster-replies-from-site-b",
         json.dumps({"src-uri": other_uri, "src-exchange": f"{prefix}.reply", "src-exchange-key": "#",
                     "dest-uri": "amqp://", "dest-exchange": "", "reconnect-delay": reconnect_delay})],
    ]


def _password_hash(password):
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def commands_to_definitions(commands):
    """The same commands as one definitions document, for one
    `rabbitmqctl import_definitions` (each rabbitmqctl run costs seconds)."""
    d = {"users": [], "permissions": [], "parameters": [], "policies": []}
    for c in commands:
        args = list(c)
        verb = args.pop(0)
        vhost = "/"
        if "-p" in args:
            i = args.index("-p")
            vhost = args[i + 1]
            del args[i:i + 2]
        if verb == "add_user":
            d["users"].append({"name": args[0], "password_hash": _password_hash(args[1]),
                               "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []})
        elif verb == "set_permissions":
            d["permissions"].append({"user": args[0], "vhost": vhost, "configure": args[1], "write": args[2],
                                     "read": args[3]})
        elif verb == "set_parameter":
            d["parameters"].append({"component": args[0], "name": args[1], "vhost": vhost,
                                    "value": json.loads(args[2])})
        elif verb == "set_policy":
            apply_to = "all"
            if "--apply-to" in args:
                i = args.index("--apply-to")
                apply_to = args[i + 1]
                del args[i:i + 2]
            d["policies"].append({"name": args[0], "pattern": args[1], "apply-to": apply_to, "vhost": vhost,
                                  "definition": json.loads(args[2]), "priority": 0})
        else:
            raise ValueError(f"no definition for rabbitmqctl {verb}")
    return d


class TwoSites:
    """Sites A (the monitoring site: collector, Nagios, clients) and B (a
    site whose nodes A asks and whose registrations A collects)."""

    def __init__(self, prefix="muster", proxy=True, reconnect_delay=1):
        self.prefix = prefix
        self.reconnect_delay = reconnect_delay
        self.a = Broker("muster-siteA", plugins=PLUGINS)
        self.b = Broker("muster-siteB", plugins=PLUGINS)
        self.proxy_to_a = self.proxy_to_b = None
        t0 = time.monotonic()
        try:
            self._parallel(lambda b: b.start(), (self.a, self.b))
            self.start_seconds = time.monotonic() - t0
            if proxy:
                self.proxy_to_a = LinkProxy(self.a.port)
                self.proxy_to_b = LinkProxy(self.b.port)
            self.federate()
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _parallel(fn, items):
        errors = []

        def run(x):
            try:
                fn(x)
            except BaseException as e:  # re-raised below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(x,)) for x in items]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    @property
    def a_url(self):
        return f"amqp://guest:guest@127.0.0.1:{self.a.port}/"

    @property
    def b_url(self):
        return f"amqp://guest:guest@127.0.0.1:{self.b.port}/"

    def _remote_uri(self, broker, proxy):
        port = proxy.port if proxy else broker.port
        return f"amqp://{FED_USER}:{FED_PASSWORD}@127.0.0.1:{port}"

    def commands(self, site):
        if site == "a":
            other = self._remote_uri(self.b, self.proxy_to_b)
        else:
            other = self._remote_uri(self.a, self.proxy_to_a)
        return site_commands(site, other, self.prefix, "/", self.reconnect_delay)

    def federate(self):
        """Apply muster(7)'s commands to both sites, as one definitions
        import per broker, both at once."""
        def apply(site):
            broker = self.a if site == "a" else self.b
            path = os.path.join(broker.dir, "muster-sites.json")
            with open(path, "w") as f:
                json.dump(commands_to_definitions(self.commands(site)), f)
            os.chmod(path, 0o644)
            _ctl(broker, "import_definitions", path)

        self._parallel(apply, ("a", "b"))

    # -- state of the links ------------------------------------------------

    def federation_links(self):
        """{(site, upstream exchange): status} of both sites' links."""
        out = {}
        for site, b in (("a", self.a), ("b", self.b)):
            for row in _json_rows(b, "federation_status"):
                out[(site, row.get("upstream_exchange") or row.get("exchange"))] = row.get("status")
        return out

    def shovel_state(self):
        for row in _json_rows(self.a, "shovel_status"):
            if row.get("name") == "muster-replies-from-site-b":
                return row.get("state")
        return None

    def bindings(self, broker, source=None):
        """Routing keys bound on broker (to source, if given)."""
        rows = _json_rows(broker, "list_bindings", "source_name", "routing_key", "destination_name")
        return {r["routing_key"] for r in rows if source is None or r["source_name"] == source}

    def queues(self, broker):
        """{name: messages ready} on broker."""
        return {r["name"]: int(r.get("messages_ready") or 0)
                for r in _json_rows(broker, "list_queues", "name", "messages_ready")}

    def wait(self, what, cond, timeout=60, interval=0.3):
        deadline = time.monotonic() + timeout
        while True:
            v = cond()
            if v:
                return v
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} within {timeout} s")
            time.sleep(interval)

    def linked(self):
        links = self.federation_links()
        want = {("b", f"{self.prefix}.broadcast"), ("b", f"{self.prefix}.directed"),
                ("a", f"{self.prefix}.registration")}
        return all(links.get(k) == "running" for k in want) and self.shovel_state() == "running"

    def wait_linked(self, timeout=60):
        return self.wait("the federation links and the shovel running", self.linked, timeout)

    # -- the WAN ---------------------------------------------------------

    def cut(self):
        for p in (self.proxy_to_a, self.proxy_to_b):
            p.cut()

    def restore(self):
        for p in (self.proxy_to_a, self.proxy_to_b):
            p.restore()

    def close(self):
        for p in (self.proxy_to_a, self.proxy_to_b):
            if p:
                p.cut()
        for b in (self.a, self.b):
            try:
                b.stop()
            except Exception as e:
                print(f"sites: stopping {b.node}: {e}", file=sys.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
