#!/usr/bin/env python3
"""Validates docker/ without a Docker engine (there is none on CI machines).

- docker/compose.yaml through a real compose parser: Debian's docker-compose
  (`config` validates and normalises without an engine);
- what pgleak needs of the stack: PostgreSQL's limits and the logging that
  server-log attribution reads, an application role that is not a superuser,
  health checks that pgleak waits for, the DSN without a password on any
  command line, results/ mounted;
- PgBouncer's configuration, parsed, and started by the real pgbouncer
  binary (on loopback, with the stack's settings) to prove it is one
  PgBouncer accepts;
- the Dockerfile: built by scripts/setup.sh, shipping the binary, the
  scenarios, and a runtime package for every library the binary links.

Exit 0 on success, 1 with every failure listed, 77 (skipped) without
docker-compose or PyYAML.
Usage: check_docker_stack.py SOURCE_DIR PGLEAK_BINARY
"""
import configparser
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:
    import yaml
except ImportError:
    print("skipped: PyYAML is missing (Debian: python3-yaml)")
    sys.exit(77)

SOURCE, BINARY = sys.argv[1], sys.argv[2]
DOCKER = os.path.join(SOURCE, "docker")
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
    return ok


def compose_config():
    if shutil.which("docker-compose") is None:
        print("skipped: docker-compose is missing (Debian: docker-compose)")
        sys.exit(77)
    done = subprocess.run(["docker-compose", "-f", os.path.join(DOCKER, "compose.yaml"), "config"],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        print("docker-compose config rejected docker/compose.yaml:\n" + done.stderr)
        sys.exit(1)
    return yaml.safe_load(done.stdout)


def settings_of(command):
    """postgres -c name=value ... -> {name: value}"""
    out = {}
    for flag, value in zip(command, command[1:]):
        if flag == "-c" and "=" in value:
            name, _, v = value.partition("=")
            out[name] = v
    return out


def check_compose(config):
    services = config.get("services", {})
    for name in ("db", "pgbouncer", "pgleak"):
        check(name in services, f"compose: no service {name}")
    db, pgleak = services.get("db", {}), services.get("pgleak", {})
    s = settings_of(db.get("command", []))
    check(s.get("max_connections") == "100", "db: max_connections must be 100 (the incident's)")
    check(s.get("superuser_reserved_connections") == "3", "db: superuser_reserved_connections 3")
    check(s.get("lc_messages") == "C", "db: lc_messages=C (pgleak reads refusals' English text)")
    check(s.get("logging_collector") == "on", "db: logging_collector=on")
    check("jsonlog" in s.get("log_destination", ""), "db: log_destination must include jsonlog")
    log_dir = s.get("log_directory", "")
    check(s.get("log_filename") == "postgresql.log", "db: log_filename postgresql.log")
    check(s.get("log_file_mode") == "0644", "db: log_file_mode 0644 (pgleak reads it as another user)")
    check(db.get("healthcheck", {}).get("test"), "db: a healthcheck pgleak can wait for")
    deps = pgleak.get("depends_on", {})
    for dep in ("db", "pgbouncer"):
        check(deps.get(dep, {}).get("condition") == "service_healthy",
              f"pgleak: depends_on {dep} with condition service_healthy")
    env = pgleak.get("environment", {})
    dsn = env.get("PGLEAK_DSN", "")
    check(re.match(r"^postgresql://[A-Za-z_]+@pgbouncer:6432/\w+$", dsn) is not None,
          f"pgleak: PGLEAK_DSN through pgbouncer, without a password: {dsn!r}")
    check("PGPASSWORD" in env, "pgleak: the password as PGPASSWORD")
    volumes = [str(v) if not isinstance(v, dict) else f"{v.get('source')}:{v.get('target')}:{'ro' if v.get('read_only') else 'rw'}"
               for v in pgleak.get("volumes", [])]
    check(any(v.endswith(":/work/results:rw") or v.endswith(":/work/results") for v in volumes),
          f"pgleak: results/ mounted at /work/results: {volumes}")
    check(any(f":{log_dir}:ro" in v for v in volumes),
          f"pgleak: the server's log directory {log_dir} mounted read-only: {volumes}")
    command = pgleak.get("command", [])
    check(command[:1] == ["run"] and command[1].startswith("/scenarios/"),
          f"pgleak: runs a scenario of the image by default: {command}")
    check(f"{log_dir}/postgresql.json" in command and "--pgbouncer-admin" in command,
          f"pgleak: reads the server's log and PgBouncer's console: {command}")
    for text in (open(os.path.join(DOCKER, "incident.sh")).read(),
                 open(os.path.join(DOCKER, "compose.yaml")).read()):
        check(f"--server-log {log_dir}/postgresql.json" in text,
              f"the documented commands read {log_dir}/postgresql.json")
    for path in re.findall(r"/scenarios/[\w/.-]+\.json", " ".join(map(str, command)) +
                           open(os.path.join(DOCKER, "incident.sh")).read()):
        check(os.path.exists(os.path.join(SOURCE, path.lstrip("/"))),
              f"{path} is not a scenario the image ships")
    return dsn


def check_role(dsn):
    sql = open(os.path.join(DOCKER, "initdb", "10-app-role.sql")).read()
    sql = re.sub(r"--[^\n]*", "", sql)
    user = re.match(r"^postgresql://([A-Za-z_]+)@", dsn).group(1) if dsn else "app"
    create = re.search(rf"CREATE ROLE {user}\b([^;]*);", sql, re.I)
    if check(create is not None, f"initdb: the role {user} of PGLEAK_DSN is created"):
        attrs = create.group(1).upper().split()
        check("NOSUPERUSER" in attrs and "SUPERUSER" not in attrs,
              f"initdb: {user} must be NOSUPERUSER, so the reserved slots apply")
        check("LOGIN" in attrs, f"initdb: {user} must LOGIN")
    check(not re.search(rf"ALTER ROLE {user}\b[^;]*\bSUPERUSER", sql, re.I),
          f"initdb: {user} never made a superuser")
    check(re.search(rf"GRANT pg_monitor TO {user}", sql, re.I) is not None,
          f"initdb: {user} may read every session's state (pg_monitor)")
    users = open(os.path.join(DOCKER, "pgbouncer", "userlist.txt")).read()
    check(f'"{user}"' in users, f"pgbouncer: {user} in userlist.txt")
    return user


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_pgbouncer(user):
    path = os.path.join(DOCKER, "pgbouncer", "pgbouncer.ini")
    ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
    ini.read(path)
    b = ini["pgbouncer"]
    check(b.get("pool_mode") in ("session", "transaction", "statement"), "pgbouncer: pool_mode")
    check(user in b.get("admin_users", ""), f"pgbouncer: {user} may read the admin console")
    check("options" in b.get("ignore_startup_parameters", ""),
          "pgbouncer: ignore_startup_parameters = options (psycopg2's server-side timeouts)")
    check("host=db" in ini["databases"].get("app", ""), "pgbouncer: database app on host db")
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.access(binary, os.X_OK):
        print("note: pgbouncer is not installed; its configuration was parsed, not started")
        return
    # The real PgBouncer reads the stack's settings, with only where it
    # listens and logs changed for this machine.
    with tempfile.TemporaryDirectory(prefix="pgleak-docker-check-") as tmp:
        os.chmod(tmp, 0o755)
        port = free_port()
        b["listen_addr"] = "127.0.0.1"
        b["listen_port"] = str(port)
        b["unix_socket_dir"] = tmp
        b["auth_file"] = os.path.join(tmp, "userlist.txt")
        b["logfile"] = os.path.join(tmp, "pgbouncer.log")
        shutil.copy(os.path.join(DOCKER, "pgbouncer", "userlist.txt"), b["auth_file"])
        with open(os.path.join(tmp, "pgbouncer.ini"), "w") as f:
            ini.write(f)
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if as_user:
            for name in os.listdir(tmp):
                shutil.chown(os.path.join(tmp, name), "postgres")
            shutil.chown(tmp, "postgres")
        proc = subprocess.Popen(as_user + [binary, os.path.join(tmp, "pgbouncer.ini")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 20
            up = False
            while time.monotonic() < deadline and proc.poll() is None:
                log = open(b["logfile"]).read() if os.path.exists(b["logfile"]) else ""
                if "process up" in log:
                    up = True
                    break
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            said = proc.communicate(timeout=10)[0]
        out = open(b["logfile"]).read() if os.path.exists(b["logfile"]) else ""
        check(up, "pgbouncer did not start with the stack's settings:\n" + (out + said)[-2000:])


def check_dockerfile():
    text = open(os.path.join(DOCKER, "Dockerfile")).read()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    check(len(stages) == 2, "Dockerfile: a build stage and a runtime stage")
    build, runtime = stages[0], stages[-1]
    check("./scripts/setup.sh" in build, "Dockerfile: built by scripts/setup.sh, as the README builds")
    copies = re.findall(r"^COPY --from=build (\S+) (\S+)", runtime, re.M)
    check(sorted(dst for _, dst in copies) == ["/scenarios", "/usr/local/bin/pgleak"],
          f"Dockerfile: ships only the binary and the scenarios: {copies}")
    check(re.search(r"^COPY (?!--from)", runtime, re.M) is None,
          "Dockerfile: the runtime stage copies nothing from the source tree")
    check(re.search(r"^USER (?!root)\S+", runtime, re.M) is not None,
          "Dockerfile: pgleak runs as an ordinary user in the image")
    installed = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", " ".join(
        re.findall(r"apt-get install[^&]*", runtime))))
    # Every library the binary links directly comes from a package the image
    # installs (or from debian:12 itself).
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                        subprocess.run(["readelf", "-d", BINARY], capture_output=True,
                                       text=True).stdout)
    check(needed, "readelf found no libraries in the binary")
    base = {"libc6", "libstdc++6", "libgcc-s1"}
    # A sanitizer preset's binary also links its runtime; the image's binary
    # (the binary preset) never does.
    needed = [lib for lib in needed if not re.match(r"lib(asan|ubsan|tsan|lsan)\.so", lib)]
    for lib in needed:
        owners = subprocess.run(["dpkg", "-S", "*/" + lib], capture_output=True, text=True).stdout
        packages = {line.split(":")[0] for line in owners.splitlines() if line}
        check(packages & (installed | base),
              f"Dockerfile: {lib} (from {sorted(packages)}) is not installed in the runtime stage")


dsn = check_compose(compose_config())
user = check_role(dsn)
check_pgbouncer(user)
check_dockerfile()
for f in failures:
    print("FAIL:", f)
if failures:
    sys.exit(1)
print("docker/: compose validated by docker-compose, role, logging, health checks, PgBouncer's "
      "configuration started by the real pgbouncer, and the Dockerfile's runtime libraries: ok")
