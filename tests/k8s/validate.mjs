// Validates pgleak's Kubernetes manifests offline: every document against the
// Kubernetes API schema (kubernetes-models' validate(): types, required
// fields, enums), then against what a sharded pgleak run needs of them.
//   node validate.mjs FILE.yaml...    exit 0 when every document is valid
//   node validate.mjs --self-test     shows each check can fail
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

async function schemaCheck(doc) {
  const module = await import(`kubernetes-models/${doc.apiVersion}/${doc.kind}`);
  const Model = module[doc.kind] ?? module.default;
  if (!Model) throw new Error(`no model for ${doc.apiVersion} ${doc.kind}`);
  new Model(doc).validate();
}

// A scenario file may hold // and /* */ comments (pgleak's loader skips
// them); strings are copied as they are.
function withoutComments(text) {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else if (c === "/" && text[i + 1] === "*") {
      i = text.indexOf("*/", i + 2);
      if (i < 0) return out;
      i++;
    } else {
      out += c;
    }
  }
  return out;
}

// What pgleak's own manifests must say, beyond the schema.
function contractCheck(docs) {
  const problems = [];
  const byKind = (kind) => docs.filter((d) => d.kind === kind);
  const names = new Set(docs.map((d) => `${d.kind}/${d.metadata?.name}`));
  for (const d of docs) {
    if (!d.metadata?.labels?.["app.kubernetes.io/instance"]) {
      problems.push(`${d.kind}/${d.metadata?.name}: no app.kubernetes.io/instance label`);
    }
  }
  for (const cm of byKind("ConfigMap")) {
    try {
      JSON.parse(withoutComments(cm.data["scenario.json"]));
    } catch (e) {
      problems.push(`ConfigMap/${cm.metadata.name}: scenario.json is not JSON: ${e.message}`);
    }
  }
  for (const pvc of byKind("PersistentVolumeClaim")) {
    if (!pvc.spec.accessModes.includes("ReadWriteMany")) {
      problems.push(`PersistentVolumeClaim/${pvc.metadata.name}: shards on many nodes need ReadWriteMany`);
    }
  }
  for (const job of byKind("Job")) {
    const where = `Job/${job.metadata.name}`;
    const pod = job.spec.template.spec;
    if (pod.restartPolicy !== "Never") problems.push(`${where}: restartPolicy must be Never`);
    for (const c of pod.containers) {
      const words = [...(c.command ?? []), ...(c.args ?? [])];
      for (const w of [...words, ...(c.env ?? []).map((e) => e.value ?? "")]) {
        if (/:\/\/|password=/i.test(w)) problems.push(`${where}: a DSN on the command line or in plain env: ${w}`);
      }
      for (const m of c.volumeMounts ?? []) {
        const v = (pod.volumes ?? []).find((x) => x.name === m.name);
        if (!v) { problems.push(`${where}: mount ${m.name} has no volume`); continue; }
        if (v.configMap && docs.length > 1 && byKind("ConfigMap").length && !names.has(`ConfigMap/${v.configMap.name}`)) {
          problems.push(`${where}: ConfigMap ${v.configMap.name} is not among the manifests`);
        }
        if (v.persistentVolumeClaim && byKind("PersistentVolumeClaim").length && !names.has(`PersistentVolumeClaim/${v.persistentVolumeClaim.claimName}`)) {
          problems.push(`${where}: PVC ${v.persistentVolumeClaim.claimName} is not among the manifests`);
        }
      }
      const shardAt = words.indexOf("--shard");
      if (shardAt >= 0) {
        const m = /^\$\(JOB_COMPLETION_INDEX\)\/(\d+)$/.exec(words[shardAt + 1] ?? "");
        if (!m) { problems.push(`${where}: --shard must be $(JOB_COMPLETION_INDEX)/N`); continue; }
        const n = Number(m[1]);
        if (job.spec.completionMode !== "Indexed") problems.push(`${where}: completionMode must be Indexed`);
        if (job.spec.completions !== n || job.spec.parallelism !== n) {
          problems.push(`${where}: completions and parallelism must both be ${n}`);
        }
        if (job.spec.backoffLimitPerIndex !== 0) problems.push(`${where}: a failed shard must not be retried (backoffLimitPerIndex 0)`);
        const dsn = (c.env ?? []).find((e) => e.name === "PGLEAK_DSN");
        if (!dsn?.valueFrom?.secretKeyRef) problems.push(`${where}: PGLEAK_DSN must come from a Secret`);
        for (const v of ["JOB_COMPLETION_INDEX", "RUN_ID"]) {
          if (!(c.env ?? []).some((e) => e.name === v)) problems.push(`${where}: $(${v}) is used but not defined in env`);
        }
        if (!words.includes("--run-id")) problems.push(`${where}: shards need one --run-id`);
      }
    }
  }
  return problems;
}

async function check(docs, label) {
  const problems = [];
  for (const d of docs) {
    try {
      await schemaCheck(d);
    } catch (e) {
      problems.push(`${label}: ${d.kind}/${d.metadata?.name}: ${String(e.message ?? e).split("\n")[0]}`);
    }
  }
  return problems.concat(contractCheck(docs).map((p) => `${label}: ${p}`));
}

function load(file) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const d of docs) if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS()).filter((d) => d);
}

async function selfTest(file) {
  const good = load(file);
  const job = () => good.findIndex((d) => d.kind === "Job");
  const mutations = {
    "completions as text": (docs) => { docs[job()].spec.completions = "four"; },
    "a container without a name": (docs) => { delete docs[job()].spec.template.spec.containers[0].name; },
    "completionMode not an enum value": (docs) => { docs[job()].spec.completionMode = "Sharded"; },
    "NonIndexed": (docs) => { docs[job()].spec.completionMode = "NonIndexed"; },
    "parallelism short of N": (docs) => { docs[job()].spec.parallelism -= 1; },
    "the DSN in the args": (docs) => { docs[job()].spec.template.spec.containers[0].args.push("--dsn", "postgresql://u:pw@db/app"); },
    "the DSN not from a Secret": (docs) => { docs[job()].spec.template.spec.containers[0].env[0] = { name: "PGLEAK_DSN", value: "host=db" }; },
    "a retried shard": (docs) => { docs[job()].spec.backoffLimitPerIndex = 6; },
    "ReadWriteOnce reports": (docs) => { docs.find((d) => d.kind === "PersistentVolumeClaim").spec.accessModes = ["ReadWriteOnce"]; },
    "a scenario that is not JSON": (docs) => { docs.find((d) => d.kind === "ConfigMap").data["scenario.json"] = "{"; },
    "a mount without its volume": (docs) => { docs[job()].spec.template.spec.volumes.pop(); },
  };
  if ((await check(good, file)).length) throw new Error(`${file} is not valid to start with`);
  let failed = 0;
  for (const [name, mutate] of Object.entries(mutations)) {
    const docs = structuredClone(good);
    mutate(docs);
    const problems = await check(docs, name);
    console.log(`${problems.length ? "rejected" : "ACCEPTED"}: ${name}${problems.length ? ` (${problems[0]})` : ""}`);
    if (!problems.length) failed++;
  }
  return failed;
}

const args = process.argv.slice(2);
if (args[0] === "--self-test") {
  const accepted = await selfTest(args[1]);
  process.exit(accepted ? 1 : 0);
}
let bad = 0;
for (const file of args) {
  const docs = load(file);
  const problems = await check(docs, file);
  for (const p of problems) console.log(p);
  console.log(`${file}: ${docs.length} documents, ${problems.length ? "INVALID" : "valid"}`);
  bad += problems.length;
}
process.exit(bad ? 1 : 0);
