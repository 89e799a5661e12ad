#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The shipped Nagios and Icinga 2 command definitions, used as a Nagios or
Icinga 2 user would: Debian's nagios4 validates a configuration that uses
each definition of config/nagios/muster.cfg.in, then runs each as a
scheduled check, as the nagios user, against a private fleet, and the state,
output, perfdata and long output Nagios recorded (status.dat) are read back;
Debian's icinga2 validates the CheckCommand objects of
config/icinga2/muster.conf beside the Template Library that icinga2.conf
includes by default, then runs both as scheduled checks and the results
are read back through its PerfdataWriter.

The only change made to the shipped muster.cfg is its plugin directory,
pointed at the build's check-mc-nrpe and check_mcollective."""

import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import Broker  # noqa: E402
from fleet import Fleet, PLUGINS, SOURCE, binary, write_config  # noqa: E402

NAGIOS = "/usr/sbin/nagios4"
ICINGA = "/usr/sbin/icinga2"
DUMMY = PLUGINS / "check_dummy"


def shipped_nagios_cfg():
    """config/nagios/muster.cfg.in as meson installs it, with the plugin
    directory pointed at the build."""
    text = (SOURCE / "config" / "nagios" / "muster.cfg.in").read_text()
    text = text.replace("@NAGIOS_PLUGINDIR@/check-mc-nrpe", binary("check-mc-nrpe"))
    text = text.replace("@NAGIOS_PLUGINDIR@/check_mcollective", binary("check_mcollective"))
    text = text.replace("@PKGSYSCONFDIR@", "/etc/muster")
    assert "@" not in text.replace("$ARG", ""), text
    return text


def parse_status(path):
    """status.dat -> {service_description: {field: value}}"""
    services = {}
    block, fields = None, {}
    for line in Path(path).read_text(errors="replace").splitlines():
        line = line.strip()
        if line.endswith("{"):
            block, fields = line[:-1].strip(), {}
        elif line == "}":
            if block == "servicestatus":
                services[fields.get("service_description")] = fields
            block = None
        elif block and "=" in line:
            k, v = line.split("=", 1)
            fields[k] = v
    return services


OBJECTS = """
define timeperiod {
    timeperiod_name 24x7
    alias           always
    sunday          00:00-24:00
    monday          00:00-24:00
    tuesday         00:00-24:00
    wednesday       00:00-24:00
    thursday        00:00-24:00
    friday          00:00-24:00
    saturday        00:00-24:00
}
define command {
    command_name    notify-none
    command_line    /bin/true
}
define command {
    command_name    host-up
    command_line    %(dummy)s 0 up
}
define contact {
    contact_name                    nobody
    alias                           nobody
    host_notification_period        24x7
    service_notification_period     24x7
    host_notification_options       n
    service_notification_options    n
    host_notification_commands      notify-none
    service_notification_commands   notify-none
}
define host {
    host_name               monitor
    alias                   monitor
    address                 127.0.0.1
    check_command           host-up
    max_check_attempts      1
    check_period            24x7
    contacts                nobody
    notification_period     24x7
    notifications_enabled   0
}
define service {
    name                    muster-test
    register                0
    host_name               monitor
    max_check_attempts      1
    check_interval          3600
    retry_interval          3600
    check_period            24x7
    notification_period     24x7
    contacts                nobody
    notifications_enabled   0
}
define service {
    use                     muster-test
    service_description     talk
    check_command           check_mc_nrpe_with!check_mcollective!monitor!--config %(conf)s -v
}
define service {
    use                     muster-test
    service_description     web servers, thresholds
    check_command           check_mc_nrpe!check_web!-C webserver -w 0 -c 1 --config %(conf)s
}
define service {
    use                     muster-test
    service_description     web servers, combined filter and share
    check_command           check_mc_nrpe_with!check_web!webserver role=web!-c 40%% --config %(conf)s
}
define service {
    use                     muster-test
    service_description     registrations
    check_command           check_mcollective!300!-v -d %(regs)s
}
define service {
    use                     muster-test
    service_description     unreadable configuration
    check_command           check_mc_nrpe!check_web!--config %(secret)s
}
"""

NAGIOS_CFG = """
log_file=%(d)s/nagios.log
# beside the monitoring-plugins' definitions, as Debian's nagios.cfg reads them
cfg_dir=/etc/nagios-plugins/config
cfg_file=%(d)s/muster.cfg
cfg_file=%(d)s/objects.cfg
object_cache_file=%(d)s/objects.cache
precached_object_file=%(d)s/objects.precache
status_file=%(d)s/status.dat
status_update_interval=1
nagios_user=nagios
nagios_group=nagios
check_external_commands=0
command_file=%(d)s/nagios.cmd
lock_file=%(d)s/nagios.lock
temp_file=%(d)s/nagios.tmp
temp_path=%(d)s
check_result_path=%(d)s/checkresults
query_socket=%(d)s/nagios.qh
state_retention_file=%(d)s/retention.dat
retain_state_information=0
use_retained_program_state=0
use_retained_scheduling_info=0
interval_length=1
service_inter_check_delay_method=n
host_inter_check_delay_method=n
max_service_check_spread=1
max_host_check_spread=1
check_result_reaper_frequency=1
service_check_timeout=60
enable_notifications=0
enable_flap_detection=0
process_performance_data=0
log_initial_states=1
use_syslog=0
"""


@unittest.skipUnless(os.path.exists(NAGIOS) and os.path.exists(ICINGA),
                     "nagios4-core and icinga2-bin are not installed (./run installs them)")
@unittest.skipUnless(os.geteuid() == 0, "needs root, to give files to the nagios user as a package would")
class NagiosAndIcinga(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker()
        cls.broker.start()
        cls.fleet = Fleet(cls.broker.url)
        # checks on the nodes run as nobody: let it reach its directories
        os.chmod(cls.fleet.root, 0o711)
        now = int(time.time())

        def registrations(d, stale):
            d.mkdir(mode=0o755)
            for node in ("app1", "app2", "app3"):
                age = 1000 if node in stale else 0
                (d / node).write_text('{"identity": "%s"}' % node)
                os.utime(d / node, (now - age, now - age))
            return d

        fresh = registrations(cls.fleet.root / "regs-mon1", ())
        stale = registrations(cls.fleet.root / "regs-mon2", ("app2",))
        check = f"{binary('check_mcollective')} --directory {{}} --interval 300"
        web = f"{DUMMY} {{}} 'web check {{}}'"
        cls.fleet.add("mon1", facts={"role": "monitor"}, classes=["monitor"],
                      commands={"check_mcollective": check.format(fresh), "check_web": web.format(0, "ok")})
        cls.fleet.add("mon2", facts={"role": "monitor"}, classes=["monitor"],
                      commands={"check_mcollective": check.format(stale), "check_web": web.format(0, "ok")})
        cls.fleet.add("web1", facts={"role": "web"}, classes=["webserver"],
                      commands={"check_web": web.format(0, "ok")})
        cls.fleet.add("web2", facts={"role": "web"}, classes=["webserver"],
                      commands={"check_web": web.format(1, "slow")})
        for n in cls.fleet.nodes.values():
            n.start(wait=False)
        for n in cls.fleet.nodes.values():
            n.wait_ready()

        # What the nagios user is given: a client configuration and a key
        # that it may read (on an installed system its own, in
        # /etc/muster/nagios; here a copy of the fleet's PSK), passed with
        # --config, which overrides the definitions' default.
        cls.nagios_gid = grp.getgrnam("nagios").gr_gid
        cls.dir = Path(tempfile.mkdtemp(prefix="muster-nagios-"))
        os.chmod(cls.dir, 0o755)
        etc = cls.dir / "etc"
        etc.mkdir(mode=0o755)
        psk = etc / "psk"
        psk.write_bytes(cls.fleet.psk.read_bytes())
        os.chown(psk, 0, cls.nagios_gid)
        os.chmod(psk, 0o640)
        cls.conf = etc / "muster.conf"
        write_config(cls.conf, {
            "main": {"identity": "nagios-monitor", "collective": cls.fleet.collective},
            "broker": {"url": cls.broker.url, "connect_timeout": "2s"},
            "security": {"psk_file": psk},
            "client": {"discovery_timeout": "1s", "timeout": "10s"},
        })
        os.chmod(cls.conf, 0o644)
        cls.secret = etc / "secret.conf"
        cls.secret.write_text(cls.conf.read_text())
        os.chmod(cls.secret, 0o600)
        # the collector's registrations as check_mcollective reads them
        cls.regs = cls.dir / "registrations"
        cls.regs.mkdir()
        for node, age in (("db1", 0), ("web1", 0), ("web2", 4000)):
            (cls.regs / node).write_text('{"identity": "%s"}' % node)
            os.utime(cls.regs / node, (now - age, now - age))
        os.chown(cls.regs, 0, cls.nagios_gid)
        os.chmod(cls.regs, 0o750)

        # Nagios's own files, owned by its user
        cls.nd = cls.dir / "nagios"
        cls.nd.mkdir()
        (cls.nd / "checkresults").mkdir()
        (cls.nd / "muster.cfg").write_text(shipped_nagios_cfg())
        (cls.nd / "objects.cfg").write_text(OBJECTS % {"dummy": DUMMY, "conf": cls.conf, "regs": cls.regs,
                                                       "secret": cls.secret})
        cls.nagios_cfg = cls.nd / "nagios.cfg"
        cls.nagios_cfg.write_text(NAGIOS_CFG % {"d": cls.nd})
        nagios_uid = pwd.getpwnam("nagios").pw_uid
        for p in [cls.nd, *cls.nd.rglob("*")]:
            os.chown(p, nagios_uid, cls.nagios_gid)
        cls.nagios = None

    @classmethod
    def tearDownClass(cls):
        if cls.nagios and cls.nagios.poll() is None:
            cls.nagios.send_signal(signal.SIGTERM)
            try:
                cls.nagios.wait(20)
            except subprocess.TimeoutExpired:
                cls.nagios.kill()
                cls.nagios.wait()
        cls.fleet.close()
        cls.broker.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_0_shipped_defaults(self):
        """check-mc-nrpe reads Nagios's own configuration unless the service
        says otherwise (least privilege, muster(7)); the Icinga 2 command
        has the same default."""
        cfg = shipped_nagios_cfg()
        lines = [line.split(None, 1)[1] for line in cfg.splitlines() if line.strip().startswith("command_line")]
        self.assertEqual(len(lines), 3, lines)
        for line in lines[:2]:
            self.assertIn(f"{binary('check-mc-nrpe')} '$ARG1$' --config /etc/muster/nagios/muster.conf ", line)
        icinga = (SOURCE / "config" / "icinga2" / "muster.conf").read_text()
        self.assertIn('vars.mc_nrpe_config = "/etc/muster/nagios/muster.conf"', icinga)

    def test_1_nagios_validates(self):
        """nagios4 -v accepts the shipped definitions as the services use them."""
        r = subprocess.run([NAGIOS, "-v", str(self.nagios_cfg)], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Things look okay", r.stdout)
        self.assertRegex(r.stdout, r"Checked 5 services\.")
        self.assertRegex(r.stdout, r"Total Errors:\s+0")

    def test_2_nagios_runs_checks(self):
        """Nagios schedules each service, runs it as nagios, and records what
        an operator sees: state, status line, perfdata, long output."""
        with open(self.nd / "stdout.log", "wb") as log:
            type(self).nagios = subprocess.Popen([NAGIOS, str(self.nagios_cfg)], stdout=log, stderr=log)
        want = {"talk", "web servers, thresholds", "web servers, combined filter and share", "registrations",
                "unreadable configuration"}
        deadline = time.monotonic() + 120
        services = {}
        while time.monotonic() < deadline:
            if self.nagios.poll() is not None:
                self.fail("nagios exited: " + (self.nd / "stdout.log").read_text(errors="replace")[-3000:]
                          + (self.nd / "nagios.log").read_text(errors="replace")[-3000:])
            status = self.nd / "status.dat"
            if status.exists():
                services = parse_status(status)
                done = {k for k, v in services.items() if v.get("has_been_checked") == "1"}
                if want <= done:
                    break
            time.sleep(0.5)
        else:
            self.fail(f"not every service was checked: {services}")
        for name in sorted(want):
            v = services[name]
            print(f"\n[{name}] state={v['current_state']}\n  output: {v['plugin_output']}\n"
                  f"  perfdata: {v['performance_data']}\n  long: {v['long_plugin_output']}", flush=True)

        talk = services["talk"]
        self.assertEqual(talk["current_state"], "2", talk)
        self.assertEqual(talk["plugin_output"], "check_mcollective: OK: 1 WARNING: 0 CRITICAL: 1 UNKNOWN: 0")
        self.assertRegex(talk["performance_data"],
                         r"^total=2 ok=1 warn=0 crit=1 unknown=0 checktime=\d+\.\d{6}$")
        long = talk["long_plugin_output"].split("\\n")
        self.assertEqual(long[0], "CRITICAL: mon2")
        self.assertIn("mon1: OK: 3 / 3 hosts checked in within 300 seconds", long)
        self.assertIn("mon2: CRITICAL: 1 / 3 hosts not checked in within 300 seconds", " ".join(long))

        thr = services["web servers, thresholds"]
        self.assertEqual(thr["current_state"], "1", thr)   # 1 of 2 not OK: more than 0, not more than 1
        self.assertEqual(thr["plugin_output"], "check_web: OK: 1 WARNING: 1 CRITICAL: 0 UNKNOWN: 0")
        self.assertRegex(thr["performance_data"],
                         r"^total=2 ok=1 warn=1 crit=0 unknown=0 checktime=\d+\.\d{6} notok=1;0;1;0;2$")
        self.assertEqual(thr["long_plugin_output"], "WARNING: web2")

        share = services["web servers, combined filter and share"]
        self.assertEqual(share["current_state"], "2", share)  # 50% > 40%
        self.assertEqual(share["plugin_output"], "check_web: OK: 1 WARNING: 1 CRITICAL: 0 UNKNOWN: 0")
        self.assertRegex(share["performance_data"],
                         r"^total=2 ok=1 warn=1 crit=0 unknown=0 checktime=\d+\.\d{6} "
                         r"notok=1;;;0;2 notok_pct=50%;;40;0;100$")
        self.assertEqual(share["long_plugin_output"], "WARNING: web2")

        regs = services["registrations"]
        self.assertEqual(regs["current_state"], "2", regs)
        self.assertTrue(regs["plugin_output"].startswith("CRITICAL: 1 / 3 hosts not checked in within 300 seconds"),
                        regs)
        self.assertIn("web2", regs["plugin_output"] + regs["long_plugin_output"])
        self.assertEqual(regs["performance_data"], "totalhosts=3 oldhosts=1 currenthosts=2")

        secret = services["unreadable configuration"]
        self.assertEqual(secret["current_state"], "3", secret)
        self.assertEqual(secret["plugin_output"],
                         f"check_web: UNKNOWN: failed to read configuration file {self.secret}: Permission denied")

    def test_3_icinga_validates(self):
        """icinga2 daemon -C accepts the CheckCommands next to everything
        Debian's icinga2.conf includes, and services that use every argument."""
        d = Path(tempfile.mkdtemp(prefix="muster-icinga-"))
        os.chmod(d, 0o755)  # icinga2 reads it as its own user
        try:
            conf = d / "icinga2.conf"
            conf.write_text(f"""
const PluginDir = "{PLUGINS}"
const ManubulonPluginDir = "{PLUGINS}"
const PluginContribDir = "{PLUGINS}"
include <itl>
include <plugins>
include <plugins-contrib>
include <manubulon>
include <windows-plugins>
include <nscp>
include "{SOURCE}/config/icinga2/muster.conf"

object Host "monitor" {{
  check_command = "dummy"
  address = "127.0.0.1"
}}
object Service "talk" {{
  host_name = "monitor"
  check_command = "mc_nrpe"
  vars.mc_nrpe_command = "check_mcollective"
  vars.mc_nrpe_with = "monitor"
}}
object Service "every argument" {{
  host_name = "monitor"
  check_command = "mc_nrpe"
  vars.mc_nrpe_command = "check_load"
  vars.mc_nrpe_with = "webserver role=web"
  vars.mc_nrpe_fact = [ "dc=east", "os=debian" ]
  vars.mc_nrpe_class = "webserver"
  vars.mc_nrpe_identity = [ "/^web/" ]
  vars.mc_nrpe_agent = "nrpe"
  vars.mc_nrpe_target = "muster"
  vars.mc_nrpe_warning = 2
  vars.mc_nrpe_critical = "10%"
  vars.mc_nrpe_discovery_method = "registry"
  vars.mc_nrpe_discovery_timeout = "2s"
  vars.mc_nrpe_timeout = "20s"
  vars.mc_nrpe_registry_dir = "/var/lib/muster/registrations"
  vars.mc_nrpe_config = "/etc/muster/muster.conf"
  vars.mc_nrpe_verbose = true
}}
object Service "registrations" {{
  host_name = "monitor"
  check_command = "mcollective"
  vars.mcollective_directory = "/var/lib/muster/registrations"
  vars.mcollective_min_hosts = 3
  vars.mcollective_timeout = 10
  vars.mcollective_verbose = true
}}
""")
            r = subprocess.run([ICINGA, "daemon", "-C", "-c", str(conf)], capture_output=True, text=True,
                               timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("Instantiated 3 Services", r.stdout)
            self.assertIn("Finished validating the configuration file(s).", r.stdout)
            # and a mistake in a definition is caught, so the check above means something
            bad = d / "bad.conf"
            bad.write_text(conf.read_text().replace('check_command = "mcollective"',
                                                    'check_command = "mcollective_typo"'))
            r = subprocess.run([ICINGA, "daemon", "-C", "-c", str(bad)], capture_output=True, text=True,
                               timeout=120)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("mcollective_typo", r.stdout + r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_4_icinga_runs_checks(self):
        """Icinga 2 runs both CheckCommands, unchanged, as its user (nagios)
        and records state, output and perfdata (read back through its
        PerfdataWriter). PluginDir points at the build's plugins."""
        d = Path(tempfile.mkdtemp(prefix="muster-icinga-run-"))
        os.chmod(d, 0o755)
        proc = None
        try:
            for sub in ("data", "log", "cache", "spool", "run", "run/icinga2", "perfdata"):
                (d / sub).mkdir()
            conf = d / "icinga2.conf"
            conf.write_text(f"""
const PluginDir = "{Path(binary("check-mc-nrpe")).parent}"
include <itl>
include "{SOURCE}/config/icinga2/muster.conf"

object CheckerComponent "checker" {{ }}
object PerfdataWriter "perfdata" {{
  service_perfdata_path = "{d}/perfdata/service"
  host_perfdata_path = "{d}/perfdata/host"
  service_temp_path = "{d}/perfdata/service.tmp"
  host_temp_path = "{d}/perfdata/host.tmp"
  service_format_template = "SERVICE::$service.name$\\tSTATE::$service.state_id$\\tOUTPUT::$service.output$\\tPERF::$service.perfdata$\\tEND"
  rotation_interval = 1s
}}
object Host "monitor" {{
  check_command = "dummy"
  enable_active_checks = false
}}
object Service "talk" {{
  host_name = "monitor"
  check_command = "mc_nrpe"
  check_interval = 5s
  vars.mc_nrpe_command = "check_mcollective"
  vars.mc_nrpe_with = "monitor"
  vars.mc_nrpe_config = "{self.conf}"
}}
object Service "thresholds" {{
  host_name = "monitor"
  check_command = "mc_nrpe"
  check_interval = 5s
  vars.mc_nrpe_command = "check_web"
  vars.mc_nrpe_class = [ "webserver" ]
  vars.mc_nrpe_fact = [ "role=web" ]
  vars.mc_nrpe_warning = 0
  vars.mc_nrpe_critical = "40%"
  vars.mc_nrpe_config = "{self.conf}"
}}
object Service "registrations" {{
  host_name = "monitor"
  check_command = "mcollective"
  check_interval = 5s
  vars.mcollective_directory = "{self.regs}"
  vars.mcollective_verbose = true
}}
""")
            for p in [d, *d.rglob("*")]:
                os.chown(p, pwd.getpwnam("nagios").pw_uid, self.nagios_gid)
            defines = {"DataDir": d / "data", "LogDir": d / "log", "CacheDir": d / "cache",
                       "SpoolDir": d / "spool", "InitRunDir": d / "run", "PidPath": d / "run/icinga2/icinga2.pid",
                       "StatePath": d / "data/icinga2.state", "ObjectsPath": d / "cache/icinga2.debug",
                       "VarsPath": d / "cache/icinga2.vars", "ModAttrPath": d / "data/modified-attributes.conf"}
            args = [ICINGA, "daemon", "-c", str(conf)] + [f"-DConfiguration.{k}={v}" for k, v in defines.items()]
            with open(d / "stdout.log", "wb") as log:
                proc = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
            results = {}
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and len(results) < 3:
                if proc.poll() is not None:
                    self.fail("icinga2 exited: " + (d / "stdout.log").read_text(errors="replace")[-3000:])
                for f in (d / "perfdata").glob("service*"):
                    for rec in f.read_text(errors="replace").split("SERVICE::")[1:]:
                        m = re.match(r"(?s)^(.*?)\tSTATE::(\d)\tOUTPUT::(.*?)\tPERF::(.*?)\tEND", rec)
                        if m:
                            results[m[1]] = (int(m[2]), m[3], m[4])
                time.sleep(0.5)
            for name, (state, output, perf) in sorted(results.items()):
                print(f"\n[icinga2 {name}] state={state}\n  output: {output}\n  perfdata: {perf}", flush=True)
            self.assertEqual(set(results), {"talk", "thresholds", "registrations"},
                             (d / "stdout.log").read_text(errors="replace")[-3000:])

            state, output, perf = results["talk"]
            self.assertEqual(state, 2)
            self.assertEqual(output.splitlines(), ["check_mcollective: OK: 1 WARNING: 0 CRITICAL: 1 UNKNOWN: 0",
                                                   "CRITICAL: mon2"])
            self.assertRegex(perf, r"^total=2 ok=1 warn=0 crit=1 unknown=0 checktime=\d+\.\d{6}$")

            state, output, perf = results["thresholds"]
            self.assertEqual(state, 2)   # 1 of 2 not OK: 50% > 40%
            self.assertEqual(output.splitlines(), ["check_web: OK: 1 WARNING: 1 CRITICAL: 0 UNKNOWN: 0",
                                                   "WARNING: web2"])
            self.assertRegex(perf, r"^total=2 ok=1 warn=1 crit=0 unknown=0 checktime=\d+\.\d{6} "
                                   r"notok=1;0;;0;2 notok_pct=50%;;40;0;100$")

            state, output, perf = results["registrations"]
            self.assertEqual(state, 2)
            self.assertTrue(output.startswith("CRITICAL: 1 / 3 hosts not checked in within 300 seconds"), output)
            self.assertEqual(perf, "totalhosts=3 oldhosts=1 currenthosts=2")
        finally:
            if proc and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            if proc:
                # icinga2 forks a helper that may outlive the main process
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    from harness import main
    main()
