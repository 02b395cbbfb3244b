#!/usr/bin/env python3
"""Writes the hostile scenario corpus: one file per case and expected.json,
which gives each file's exit code and a fragment its error must contain
("POINTER: text", as pgleak prints it). tests/integration/hostile_corpus_test.cpp
runs every file through the real binary, with `validate` and with `run`.
Re-run after editing: python3 tests/data/hostile/generate.py"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
cases = []  # (name, text, expected fragment)


def scenario(top=None, process=None, worker=None, drop=()):
    doc = {"name": "h", "duration": "10s"}
    doc.update(top or {})
    w = {"pattern": "scoped"}
    w.update(worker or {})
    p = {"name": "p", "workers": [w]}
    p.update(process or {})
    doc["processes"] = [p]
    for key in drop:
        doc.pop(key, None)
    return json.dumps(doc)


def case(name, text, fragment):
    cases.append((name, text, fragment))


W = "/processes/0/workers/0"
P = "/processes/0"

# --- not JSON, or not a scenario ----------------------------------------------
case("empty", "", "invalid JSON")
case("just-brace", "{", "invalid JSON")
case("trailing-comma", '{"name": "h",}', "invalid JSON")
case("single-quotes", "{'name': 'h'}", "invalid JSON")
case("nan-literal", '{"time_scale": NaN}', "invalid JSON")
case("infinity-literal", '{"time_scale": Infinity}', "invalid JSON")
case("unterminated-string", '{"name": "h', "invalid JSON")
case("raw-control-char", '{"name": "a\x01b"}', "invalid JSON")
case("unterminated-comment", '{"name": "h" /* never closed', "invalid JSON")
case("invalid-utf8", b'{"name": "\xff\xfe"}'.decode("latin-1"), "invalid JSON")
case("top-level-array", "[]", "/: must be a JSON object")
case("top-level-string", '"scenario"', "/: must be a JSON object")
case("top-level-null", "null", "/: must be a JSON object")
case("deep-nesting", '{"description": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeper than 32")
case("number-overflow-time-scale", '{"time_scale": 1e400}', "number overflow")
case("number-overflow-negative", '{"time_scale": -1e400}', "number overflow")
case("number-overflow-option", scenario(worker={"pattern": "leak_on_error"}).replace(
    '"pattern": "leak_on_error"', '"pattern": "leak_on_error", "options": {"error_rate": 1e999}'),
    "number overflow")

# --- required fields and unknown keys ---------------------------------------------------
case("missing-name", scenario(drop=("name",)), "/name: is required")
case("missing-duration", scenario(drop=("duration",)), "/duration: is required")
case("missing-processes", json.dumps({"name": "h", "duration": "1s"}), "/processes: must be a non-empty array")
case("empty-processes", json.dumps({"name": "h", "duration": "1s", "processes": []}), "/processes: must be a non-empty array")
case("empty-workers", scenario(process={"workers": []}), P + "/workers: must be a non-empty array")
case("unknown-top-key", scenario({"nmae": "typo"}), "/nmae: unknown key")
case("unknown-key-escaped", scenario({"a/b~c": 1}), "/a~1b~0c: unknown key")
case("unknown-worker-key", scenario(worker={"cuont": 2}), W + "/cuont: unknown key")
case("unknown-pool-key", scenario({"pool": {"size": 3}}), "/pool/size: unknown key")
case("unknown-connect-key", scenario({"pool": {"connect": {"options": "-c x=y"}}}), "/pool/connect/options: unknown key")

# --- duplicate keys ---------------------------------------------------------------
case("duplicate-top", '{"name": "a", "name": "b", "duration": "1s", "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]}', "/name: duplicate key")
case("duplicate-worker", '{"name": "a", "duration": "1s", "processes": [{"name": "p", "workers": [{"pattern": "scoped", "count": 1, "count": 5000}]}]}', W + "/count: duplicate key")
case("duplicate-pool", '{"name": "a", "duration": "1s", "pool": {"pool_size": 3, "pool_size": 300}, "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]}', "/pool/pool_size: duplicate key")
case("duplicate-escaped", '{"name": "a", "duration": "1s", "x/y": 1, "x/y": 2, "processes": [{"name": "p", "workers": [{"pattern": "scoped"}]}]}', "/x~1y: duplicate key")

# --- names --------------------------------------------------------------------------
case("name-50000", scenario({"name": "a" * 50000}), "/name: must be at most 32 characters")
case("name-50000-invalid", scenario({"name": "a" * 50000 + "!"}), "/name: must be at most 32 characters")
case("process-name-50000", scenario(process={"name": "p" * 50000}), P + "/name: must be at most 32")
case("worker-name-50000", scenario(worker={"name": "w" * 50000}), W + "/name: must be at most 32")
case("name-33", scenario({"name": "a" * 33}), "/name: must be at most 32")
case("name-empty", scenario({"name": ""}), "/name: must start with a letter")
case("name-digit", scenario({"name": "1abc"}), "/name: must start with a letter")
case("name-slash", scenario({"name": "a/b"}), "/name: must start with a letter")
case("name-space", scenario({"name": "a b"}), "/name: must start with a letter")
case("name-escape", scenario({"name": "a\x1b[2J"}), "/name: must start with a letter")
case("name-unicode", scenario({"name": "caf\u00e9"}), "/name: must start with a letter")
case("name-number", scenario({"name": 5}), "/name: must be a string")
case("duplicate-process-names", json.dumps({"name": "h", "duration": "1s", "processes": [
    {"name": "p", "workers": [{"pattern": "scoped"}]}, {"name": "p", "workers": [{"pattern": "scoped"}]}]}),
    "/processes/1/name: duplicate process name")
case("duplicate-group-names", scenario(process={"workers": [{"pattern": "scoped"}, {"pattern": "scoped"}]}),
     P + "/workers/1/name: duplicate worker group name")

# --- time_scale and durations ----------------------------------------------------------
case("time-scale-zero", scenario({"time_scale": 0}), "/time_scale: must be > 0")
case("time-scale-negative", scenario({"time_scale": -1}), "/time_scale: must be > 0")
case("time-scale-huge", scenario({"time_scale": 1001}), "/time_scale: must be > 0 and <= 1000")
case("time-scale-string", scenario({"time_scale": "fast"}), "/time_scale: must be a finite number")
case("time-scale-tiny", scenario({"time_scale": 1e-12, "duration": "10m"}), "/duration: 10m at time_scale 1e-12 rounds to zero")
case("duration-1200d-scaled", scenario({"duration": "1200d", "time_scale": 100}), "/duration: \"1200d\" is longer than")
case("duration-300d-scaled", scenario({"duration": "300d", "time_scale": 100}), "/duration: 7200h at time_scale 100 applies as longer than")
case("duration-negative", scenario({"duration": "-5s"}), "/duration: \"-5s\" must be a non-negative duration")
case("duration-no-unit", scenario({"duration": "5"}), "/duration: \"5\" needs a unit")
case("duration-bare-number", scenario({"duration": 5}), "/duration: must be a duration string")
case("duration-bad-unit", scenario({"duration": "5sec"}), "/duration: unknown unit")
case("duration-space", scenario({"duration": "5 s"}), "/duration: \"5 s\" is not a number followed by a unit")
case("duration-nan", scenario({"duration": "nans"}), "/duration:")
case("duration-inf", scenario({"duration": "infs"}), "/duration:")
case("duration-overflow-digits", scenario({"duration": "9" * 400 + "s"}), "/duration:")
case("duration-zero", scenario({"duration": "0s"}), "/duration: must be greater than zero")
case("duration-empty", scenario({"duration": ""}), "/duration: empty duration")
case("think-time-rounds-to-zero", scenario({"time_scale": 0.0001}, worker={"think_time": "1us"}), W + "/think_time: 1us at time_scale 0.0001 rounds to zero")
case("start-after-overflow", scenario({"time_scale": 1000}, worker={"start_after": "300d"}), W + "/start_after: 7200h at time_scale 1000")
case("option-sleep-overflow", scenario({"time_scale": 1000}, worker={"pattern": "slow_statement", "options": {"sleep": "300d"}}), W + "/options/sleep: 7200h at time_scale 1000")
case("option-sleep-rounds-to-zero", scenario({"time_scale": 0.0001}, worker={"pattern": "slow_statement", "options": {"sleep": "1us"}}), W + "/options/sleep: 1us at time_scale 0.0001 rounds to zero")
case("sample-interval-tiny", scenario({"sample_interval": "1ms"}), "/sample_interval: must be from 10ms to 1h")
case("sample-interval-huge", scenario({"sample_interval": "2h"}), "/sample_interval: must be from 10ms to 1h")
case("leak-threshold-zero", scenario({"leak_threshold": "0s"}), "/leak_threshold: must be greater than zero")

# --- integers -------------------------------------------------------------------------
case("count-zero", scenario(worker={"count": 0}), W + "/count: must be >= 1")
case("count-huge", scenario(worker={"count": 10001}), W + "/count: must be <= 10000")
case("count-float", scenario(worker={"count": 1.5}), W + "/count: must be an integer")
case("count-string", scenario(worker={"count": "5"}), W + "/count: must be an integer")
case("count-bool", scenario(worker={"count": True}), W + "/count: must be an integer")
case("count-400-digits", scenario(worker={"count": int("9" * 400)}), "number overflow")
case("count-uint64-max", scenario(worker={"count": 18446744073709551615}), W + "/count: must be <= 10000")
case("replicas-int64-min", scenario(process={"replicas": -9223372036854775808}), P + "/replicas: must be >= 1")
case("replicas-below-int64", scenario(process={"replicas": -9223372036854775809}), P + "/replicas: must be an integer")
case("max-overflow-uint64-max", scenario({"pool": {"max_overflow": 18446744073709551615}}), "/pool/max_overflow: must be <= 10000")
case("max-overflow-minus-two", scenario({"pool": {"max_overflow": -2}}), "/pool/max_overflow: must be >= -1")
case("pool-size-negative", scenario({"pool": {"pool_size": -1}}), "/pool/pool_size: must be >= 0")
case("iterations-zero", scenario(worker={"iterations": 0}), W + "/iterations: must be >= 1")
case("iterations-and-duration", scenario(worker={"iterations": 1, "duration": "1s"}), W + "/duration: give iterations or duration")
case("workers-overflow-int", json.dumps({"name": "h", "duration": "1s", "processes": [{"name": "p", "replicas": 10000, "workers": [
    {"pattern": "scoped", "name": "g%d" % i, "count": 10000} for i in range(22)]}]}), "/processes: 2200000000 workers in all")
case("workers-too-many", scenario(process={"replicas": 100}, worker={"count": 1001}), "/processes: 100100 workers in all")
case("max-connections-zero", scenario({"server": {"max_connections": 0}}), "/server/max_connections: must be >= 1")
case("max-connections-huge", scenario({"server": {"max_connections": 100000}}), "/server/max_connections: must be <= 10000")
case("reserved-not-less", scenario({"server": {"max_connections": 5, "superuser_reserved_connections": 5}}), "/server/superuser_reserved_connections: must be less than max_connections")

# --- patterns and options ------------------------------------------------------------------
case("pattern-missing", scenario(worker={"pattern": None}).replace('"pattern": null', '"count": 1'), W + "/pattern: is required")
case("pattern-unknown", scenario(worker={"pattern": "leaky"}), W + "/pattern: unknown pattern \"leaky\"")
case("pattern-unknown-huge", scenario(worker={"pattern": "x" * 50000}), "...(50000 characters)")
case("pattern-number", scenario(worker={"pattern": 3}), W + "/pattern: must be a string")
case("options-not-object", scenario(worker={"options": [1]}), W + "/options: must be an object")
case("option-unknown", scenario(worker={"pattern": "held_by_object", "options": {"hold": True}}), W + "/options/hold: unknown option")
case("option-unknown-escaped", scenario(worker={"pattern": "scoped", "options": {"a/b": 1}}), W + "/options/a~1b: unknown option")
case("option-wrong-type", scenario(worker={"pattern": "held_by_object", "options": {"commit": "yes"}}), W + "/options/commit: must be true or false")
case("option-rate-above", scenario(worker={"pattern": "leak_on_error", "options": {"error_rate": 2}}), W + "/options/error_rate: must be a number from 0 to 1")
case("option-rate-below", scenario(worker={"pattern": "leak_on_error", "options": {"error_rate": -0.5}}), W + "/options/error_rate: must be a number from 0 to 1")
case("option-choice", scenario(worker={"pattern": "idle_in_transaction", "options": {"on_disconnect": "panic"}}), W + "/options/on_disconnect: must be one of")
case("query-empty", scenario(worker={"query": " ;; "}), W + "/query: must not be empty")

# --- load models ----------------------------------------------------------------------
case("rate-absurd", scenario(worker={"arrival_rate": "1e12/s"}), W + "/arrival_rate: 1e+12/s at time_scale 1")
case("rate-scaled-absurd", scenario({"time_scale": 0.001}, worker={"arrival_rate": "100/s"}), W + "/arrival_rate: 100/s at time_scale 0.001 is 100000 arrivals")
case("rate-garbage", scenario(worker={"arrival_rate": "fast"}), W + "/arrival_rate: must be a rate")
case("rate-unit", scenario(worker={"arrival_rate": "5/x"}), W + "/arrival_rate: must be a rate")
case("rate-negative", scenario(worker={"arrival_rate": "-5/s"}), W + "/arrival_rate: must be a rate")
case("rate-nan", scenario(worker={"arrival_rate": "nan/s"}), W + "/arrival_rate: must be a rate")
case("rate-with-think", scenario(worker={"arrival_rate": "5/s", "think_time": "1s"}), W + "/think_time: an open model")
case("stages-empty", scenario(worker={"stages": []}), W + "/stages: must be a non-empty array")
case("stage-target-above-count", scenario(worker={"count": 2, "stages": [{"duration": "1s", "target": 3}]}), W + "/stages/0/target: must be <= 2")
case("stage-no-duration", scenario(worker={"stages": [{"target": 1}]}), W + "/stages/0/duration: is required")
case("stage-rate-absurd", scenario(worker={"arrival_rate": "1/s", "stages": [{"duration": "1s", "rate": "1e9/s"}]}), W + "/stages/0/rate: 1e+09/s")

# --- expect --------------------------------------------------------------------------------
case("expect-unknown-metric", scenario({"expect": {"peak": "<= 3"}}), "/expect/peak: unknown metric")
case("expect-bad-expression", scenario({"expect": {"pool_timeouts": "less than 3"}}), "/expect/pool_timeouts: must be a comparison")
case("expect-1e400", scenario({"expect": {"peak_connections": "< 1e400"}}), "/expect/peak_connections: must be a comparison")
case("expect-400-digits", scenario({"expect": {"peak_connections": "< " + "9" * 400}}), "/expect/peak_connections: the number must be between")
case("expect-number-not-string", scenario({"expect": {"peak_connections": 5}}), "/expect/peak_connections: must be \"<op> <number>\"")
case("expect-verdict-unknown", scenario({"expect": {"verdict": "great"}}), "/expect/verdict: verdict must be")
case("expect-abort-on-p95", scenario({"expect": {"checkout_wait_ms.p95": {"expr": "< 5", "abort_on_fail": True}}}), "/expect/checkout_wait_ms.p95/abort_on_fail")
case("expect-array", scenario({"expect": ["peak_connections"]}), "/expect: must be an object")
case("expect-escaped-metric", scenario({"expect": {"a~b": "== 0"}}), "/expect/a~0b: unknown metric")
case("expect-sqlstate-lowercase", scenario({"expect": {"errors.5330a": "== 0"}}), "/expect/errors.5330a: unknown metric")

# --- pool and connect ----------------------------------------------------------------------
case("reset-on-return", scenario({"pool": {"reset_on_return": "commit"}}), "/pool/reset_on_return: must be \"rollback\" or \"none\"")
case("recycle-garbage", scenario({"pool": {"pool_recycle": "often"}}), "/pool/pool_recycle:")
case("application-name-slash", scenario({"pool": {"connect": {"application_name": "a/b"}}}), "/pool/connect/application_name: must be non-empty and must not contain '/'")
case("application-name-empty", scenario({"pool": {"connect": {"application_name": ""}}}), "/pool/connect/application_name: must be non-empty")
case("connect-timeout-zero", scenario({"pool": {"connect": {"connect_timeout": "0s"}}}), "/pool/connect/connect_timeout: must be greater than zero")
case("statement-timeout-huge", scenario({"pool": {"connect": {"statement_timeout": "1200d"}}}), "/pool/connect/statement_timeout: \"1200d\" is longer than")
case("tag-too-long", scenario({"pool": {"connect": {"application_name": "a" * 40}}}, process={"name": "p" * 30}), P + "/name: backend tag")

# --- faults ---------------------------------------------------------------------------------
case("faults-not-array", scenario({"faults": {"at": "1s"}}), "/faults: must be an array")
case("fault-action", scenario({"faults": [{"at": "1s", "action": "rm_rf"}]}), "/faults/0/action: must be terminate_backends")
case("fault-no-at", scenario({"faults": [{"action": "cancel_backends"}]}), "/faults/0/at: is required")
case("fault-target", scenario({"faults": [{"at": "1s", "action": "cancel_backends", "target": "postgres"}]}), "/faults/0/target: \"postgres\" is neither")
case("fault-restart-one", scenario({"faults": [{"at": "1s", "action": "restart_server", "target": "p"}]}), "/faults/0/target: restart_server restarts the whole server")
case("fault-at-overflow", scenario({"time_scale": 1000, "faults": [{"at": "300d", "action": "cancel_backends"}]}), "/faults/0/at: 7200h at time_scale 1000")

# --- this round: PgBouncer's 1 ms floor, the collector, retries, NullPool, steps --------------
case("pgbouncer-timeout-below-1ms", scenario({"time_scale": 0.0001, "pgbouncer": {"query_wait_timeout": "5s"}}),
     "/pgbouncer/query_wait_timeout: 5s at time_scale 0.0001 applies as 500us, below PgBouncer's resolution")
case("pgbouncer-default-below-1ms", scenario({"time_scale": 0.0001, "pgbouncer": {"query_wait_timeout": "1m"}}),
     "/pgbouncer/reserve_pool_timeout: PgBouncer's default 5s")
case("gc-number", scenario(process={"gc": 2}), P + "/gc: must be \"never\" or a duration")
case("gc-zero", scenario(process={"gc": "0s"}), P + "/gc: must be greater than zero")
case("connect-retry", scenario(worker={"connect_retry": "forever"}), W + "/connect_retry: must be \"backoff\"")
case("startup-without-restart", scenario(process={"lifecycle": {"at": "5s", "startup": "1s"}}),
     P + "/lifecycle/startup: is the start-up of a restarted process")
case("nullpool-pool-size", scenario({"pool": {"poolclass": "NullPool", "pool_size": 5}}),
     "/pool/pool_size: NullPool takes no pool_size")

# --- the network section (docs/NETWORK.md) -------------------------------------
N = "/network/faults/0"
case("network-not-object", scenario({"network": ["blackhole"]}), "/network: must be an object")
case("network-faults-empty", scenario({"network": {"faults": []}}), "/network/faults: must be a non-empty array")
case("network-action", scenario({"network": {"faults": [{"at": "1s", "action": "unplug"}]}}), N + "/action: must be blackhole, partition")
case("network-partition-forever", scenario({"network": {"faults": [{"at": "1s", "action": "partition"}]}}), N + "/for: is required for a partition")
case("network-reset-for", scenario({"network": {"faults": [{"at": "1s", "action": "reset", "for": "1s"}]}}), N + "/for: a reset is one moment")
case("network-after-end", scenario({"network": {"faults": [{"at": "10s", "action": "reset"}]}}), N + "/at: 10s is not before the end of the run")
case("network-latency-no-delay", scenario({"network": {"faults": [{"at": "1s", "action": "latency"}]}}), N + "/delay: is required for latency")
case("network-jitter-over-delay", scenario({"network": {"faults": [{"at": "1s", "action": "latency", "delay": "5ms", "jitter": "6ms"}]}}), N + "/jitter: must not exceed delay")
case("network-rate-garbage", scenario({"network": {"faults": [{"at": "1s", "action": "bandwidth", "rate": "fast"}]}}), N + "/rate: must be a rate")
case("network-rate-huge", scenario({"network": {"faults": [{"at": "1s", "action": "bandwidth", "rate": "1000GB/s"}]}}), N + "/rate: must be between 1B/s and 100GB/s")
case("network-kernel-field", scenario({"network": {"faults": [{"at": "1s", "action": "blackhole", "delay": "5ms"}]}}), N + "/delay: blackhole has no \"delay\"")
case("network-half-open-pgbouncer", scenario({"pgbouncer": {}, "network": {"faults": [{"at": "1s", "action": "half_open"}]}}), N + "/action: half_open is a client that vanishes")
case("keepalive-below-a-second", scenario({"server": {"tcp_keepalives_idle": "500ms"}}), "/server/tcp_keepalives_idle: 500ms at time_scale 1")
case("keepalive-count-zero", scenario({"pool": {"connect": {"keepalives_count": 0}}}), "/pool/connect/keepalives_count:")

for name in os.listdir(HERE):
    if name.endswith(".json") and name != "expected.json":
        os.remove(os.path.join(HERE, name))
expected = []
for i, (name, text, fragment) in enumerate(cases, 1):
    file = "%03d-%s.json" % (i, name)
    with open(os.path.join(HERE, file), "w", encoding="latin-1" if name == "invalid-utf8" else "utf-8") as f:
        f.write(text)
    expected.append({"file": file, "exit": 2, "stderr": fragment})
with open(os.path.join(HERE, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
    f.write("\n")
print("%d cases" % len(cases))
