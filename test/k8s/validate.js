#!/usr/bin/env node
// validate.js: offline validation of the shardroute Kubernetes manifests (no cluster, no network).
//
// Usage: node test/k8s/validate.js FILE.yaml...
//
// All documents of all files form one set, checked as a whole:
//   - every document parses (duplicate keys are errors) and is a known Kubernetes kind;
//   - every object passes its kubernetes-models schema (types, required fields, formats) and
//     has no field unknown to the Kubernetes API (attribute maps of @kubernetes/client-node);
//   - cross-references hold: workload, PodDisruptionBudget, NetworkPolicy and Service selectors
//     match pod labels, every StatefulSet serviceName names a headless Service, every Secret,
//     ConfigMap and key referenced from env, envFrom, volumes and imagePullSecrets exists,
//     $(VAR) references in env values are defined earlier;
//   - the shard topology agrees: postgres-shard-<n> StatefulSet names, labels, serviceName and
//     Service names, the DATABASE_SHARD_<n>_URL hosts and DATABASE_SHARD_MODE ("<N>way");
//   - deployment rules: namespace hft-trading everywhere, no literal password outside a file
//     named *example*, resources, non-root security contexts, tagged images, probes, and the
//     PostgreSQL settings the shards and the coordinator need.
// A Kustomization document is checked for its namespace and for the files it lists.
//
// Prints one line per problem, "FILE: KIND/NAME: [code] message", then a summary line.
// Exit status: 0 when the set is valid, 1 when it is not, 2 on bad usage.
'use strict';

const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

const NAMESPACE = 'hft-trading';
const SECRET_NAME_RE = /(PASSWORD|PASSWD|SECRET|TOKEN|PGPASS)/i;
const SHARD_RE = /^postgres-shard-(\d+)$/;
const SHARD_URL_KEY_RE = /^DATABASE_SHARD_(\d+)_URL$/;
const VAR_REF_RE = /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g;
const CLUSTER_SCOPED = new Set([
  'Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume', 'StorageClass',
  'CustomResourceDefinition', 'PriorityClass', 'IngressClass', 'RuntimeClass',
]);
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);
const KUSTOMIZATION_FIELDS = new Set([
  'apiVersion', 'kind', 'metadata', 'resources', 'namespace', 'images', 'labels', 'commonLabels',
  'commonAnnotations', 'patches', 'configMapGenerator', 'secretGenerator', 'generatorOptions',
  'components', 'replicas', 'namePrefix', 'nameSuffix', 'buildMetadata',
]);

const errors = [];
let clientModels = null; // @kubernetes/client-node model classes, by type name

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function describe(obj) {
  if (!isObject(obj)) return '(document)';
  const name = isObject(obj.metadata) && obj.metadata.name ? obj.metadata.name : '(unnamed)';
  return `${obj.kind || '(no kind)'}/${name}`;
}

// report: records one problem for the object at item (or for a file when item has no obj).
function report(item, code, message) {
  errors.push({ file: item.file, what: item.obj ? describe(item.obj) : '(file)', code, message });
}

// ---------------------------------------------------------------- loading

// loadFiles: parses every document of every file; returns [{file, index, obj}]. Parse errors,
// duplicate keys and non-object documents are reported, and such documents are skipped.
function loadFiles(files) {
  const items = [];
  for (const file of files) {
    let text;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      report({ file }, 'io', `cannot read: ${e.message}`);
      continue;
    }
    const docs = YAML.parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
    docs.forEach((doc, index) => {
      if (doc.errors.length > 0) {
        for (const e of doc.errors) report({ file }, 'yaml-syntax', e.message.split('\n')[0]);
        return;
      }
      const obj = doc.toJS({ maxAliasCount: 0 });
      if (obj === null || obj === undefined) return; // empty document
      if (!isObject(obj)) {
        report({ file }, 'not-an-object', `document ${index + 1} is not a mapping`);
        return;
      }
      items.push({ file, index, obj });
    });
  }
  return items;
}

// ---------------------------------------------------------------- schema and unknown fields

// modelClass: the kubernetes-models class for apiVersion/kind, or null when there is none.
function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return null;
  if (!/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion)) return null;
  try {
    const mod = require(`kubernetes-models/${apiVersion}`);
    const cls = mod[kind];
    return typeof cls === 'function' && typeof cls.prototype.validate === 'function' ? cls : null;
  } catch (e) {
    return null;
  }
}

function checkSchema(item) {
  const { obj } = item;
  const Cls = modelClass(obj.apiVersion, obj.kind);
  if (!Cls) {
    report(item, 'unknown-kind', `no Kubernetes kind ${obj.kind} in ${obj.apiVersion}`);
    return false;
  }
  try {
    new Cls(obj).validate();
  } catch (e) {
    const list = Array.isArray(e.errors) ? e.errors : [{ instancePath: '', message: e.message }];
    for (const err of list) {
      const where = err.instancePath || '/';
      const extra = err.params && err.params.allowedValues ? ` (${err.params.allowedValues.join(', ')})` : '';
      report(item, 'schema', `${where}: ${err.message}${extra}`);
    }
  }
  return true;
}

// clientTypeName: the @kubernetes/client-node model name of a kind, e.g. V1StatefulSet.
function clientTypeName(apiVersion, kind) {
  const version = apiVersion.split('/').pop();
  return version.charAt(0).toUpperCase() + version.slice(1) + kind;
}

// checkFields: reports every key of value not in the attribute map of the client type, recursing
// through nested model types, arrays and maps.
function checkFields(item, value, type, where) {
  if (value === null || value === undefined) return;
  let m = /^Array<(.+)>$/.exec(type);
  if (m) {
    if (Array.isArray(value)) value.forEach((v, i) => checkFields(item, v, m[1], `${where}[${i}]`));
    return;
  }
  m = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (m) {
    if (isObject(value)) for (const [k, v] of Object.entries(value)) checkFields(item, v, m[1], `${where}.${k}`);
    return;
  }
  const cls = clientModels[type];
  if (!cls || typeof cls.getAttributeTypeMap !== 'function' || !isObject(value)) return;
  const attrs = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a]));
  for (const [k, v] of Object.entries(value)) {
    const attr = attrs.get(k);
    if (!attr) {
      report(item, 'unknown-field', `${where ? `${where}.` : ''}${k} is not a field of ${type.replace(/^V\d+/, '')}`);
    } else {
      checkFields(item, v, attr.type, where ? `${where}.${k}` : k);
    }
  }
}

function checkUnknownFields(item) {
  const type = clientTypeName(item.obj.apiVersion, item.obj.kind);
  if (!clientModels[type]) return;
  checkFields(item, item.obj, type, '');
}

// ---------------------------------------------------------------- helpers on objects

function meta(obj) {
  return isObject(obj.metadata) ? obj.metadata : {};
}

function nsOf(obj) {
  return meta(obj).namespace || 'default';
}

// podTemplate: {labels, spec} of a workload's pod template (or of a Pod), or null.
function podTemplate(obj) {
  if (obj.kind === 'Pod') return { labels: meta(obj).labels || {}, spec: obj.spec || {} };
  let tpl = null;
  if (WORKLOAD_KINDS.has(obj.kind) && isObject(obj.spec)) tpl = obj.spec.template;
  if (obj.kind === 'CronJob' && isObject(obj.spec) && isObject(obj.spec.jobTemplate)) {
    tpl = obj.spec.jobTemplate.spec && obj.spec.jobTemplate.spec.template;
  }
  if (!isObject(tpl)) return null;
  return { labels: (isObject(tpl.metadata) && tpl.metadata.labels) || {}, spec: isObject(tpl.spec) ? tpl.spec : {} };
}

function allContainers(spec, { init = true } = {}) {
  const list = [];
  for (const field of init ? ['initContainers', 'containers', 'ephemeralContainers'] : ['containers']) {
    if (Array.isArray(spec[field])) for (const c of spec[field]) if (isObject(c)) list.push(c);
  }
  return list;
}

// selectorMatches: whether a LabelSelector (matchLabels + matchExpressions) selects labels.
// An empty selector selects everything.
function selectorMatches(selector, labels) {
  if (!isObject(selector)) return false;
  for (const [k, v] of Object.entries(selector.matchLabels || {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions || []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const values = e.values || [];
    if (e.operator === 'In' && !(has && values.includes(labels[e.key]))) return false;
    if (e.operator === 'NotIn' && has && values.includes(labels[e.key])) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function selectorIsEmpty(selector) {
  return !isObject(selector) ||
    (Object.keys(selector.matchLabels || {}).length === 0 && (selector.matchExpressions || []).length === 0);
}

// postgresSettings: the "-c name=value" / "--name=value" settings found in a container's args.
function postgresSettings(container) {
  const out = {};
  const words = [...(container.command || []), ...(container.args || [])].map(String);
  for (let i = 0; i < words.length; i++) {
    let s = null;
    if (words[i] === '-c' && i + 1 < words.length) s = words[++i];
    else if (words[i].startsWith('-c') && words[i].length > 2) s = words[i].slice(2);
    else if (words[i].startsWith('--') && words[i].includes('=')) s = words[i].slice(2);
    if (s && s.includes('=')) out[s.slice(0, s.indexOf('=')).trim()] = s.slice(s.indexOf('=') + 1).trim();
  }
  return out;
}

function envValue(container, name) {
  const e = (container.env || []).find((x) => isObject(x) && x.name === name);
  return e ? e : null;
}

// cpuMillis: a CPU quantity in millicores, or NaN.
function cpuMillis(q) {
  const s = String(q);
  if (/^[0-9.]+m$/.test(s)) return parseFloat(s);
  if (/^[0-9.]+$/.test(s)) return parseFloat(s) * 1000;
  return NaN;
}

// parseDbUrl: {user, password, host, port, db} of scheme://[user[:password]@]host[:port]/db.
function parseDbUrl(url) {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^:/?@]+)(?::(\d+))?\/([^?]*)/i.exec(url);
  if (!m) return null;
  return { user: m[1], password: m[2], host: m[3], port: m[4] ? Number(m[4]) : 5432, db: m[5] };
}

// ---------------------------------------------------------------- the checks

function buildIndex(items) {
  const index = { byKind: new Map(), pods: [] };
  for (const item of items) {
    const { obj } = item;
    if (!index.byKind.has(obj.kind)) index.byKind.set(obj.kind, []);
    index.byKind.get(obj.kind).push(item);
    const tpl = podTemplate(obj);
    if (tpl) index.pods.push({ item, ns: nsOf(obj), ...tpl });
  }
  return index;
}

function find(index, kind, ns, name) {
  return (index.byKind.get(kind) || []).find((it) => nsOf(it.obj) === ns && meta(it.obj).name === name);
}

function checkDuplicates(items) {
  const seen = new Map();
  for (const item of items) {
    const { obj } = item;
    const group = String(obj.apiVersion || '').includes('/') ? obj.apiVersion.split('/')[0] : '';
    const key = `${group}/${obj.kind}/${CLUSTER_SCOPED.has(obj.kind) ? '' : nsOf(obj)}/${meta(obj).name}`;
    if (seen.has(key)) report(item, 'duplicate-object', `also defined in ${seen.get(key)}`);
    else seen.set(key, item.file);
  }
}

function checkNamespace(item) {
  const { obj } = item;
  if (obj.kind === 'Namespace') {
    if (meta(obj).name !== NAMESPACE) report(item, 'namespace', `namespace must be ${NAMESPACE}`);
    return;
  }
  if (CLUSTER_SCOPED.has(obj.kind)) return;
  if (meta(obj).namespace !== NAMESPACE) {
    report(item, 'namespace', `metadata.namespace is ${meta(obj).namespace || '(unset)'}, must be ${NAMESPACE}`);
  }
}

function checkSelectors(index, item) {
  const { obj } = item;
  const ns = nsOf(obj);
  const spec = isObject(obj.spec) ? obj.spec : {};
  const podsInNs = index.pods.filter((p) => p.ns === ns);
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(obj.kind)) {
    const tpl = podTemplate(obj);
    if (selectorIsEmpty(spec.selector)) {
      report(item, 'selector-mismatch', 'spec.selector is empty');
    } else if (tpl && !selectorMatches(spec.selector, tpl.labels)) {
      report(item, 'selector-mismatch', 'spec.selector does not match the pod template labels');
    }
  }
  if (obj.kind === 'Job' && isObject(spec.selector) && !spec.manualSelector) {
    report(item, 'selector-mismatch', 'spec.selector is set without manualSelector');
  }
  if (obj.kind === 'PodDisruptionBudget') {
    if (selectorIsEmpty(spec.selector)) report(item, 'selector-mismatch', 'spec.selector is empty');
    else if (!podsInNs.some((p) => selectorMatches(spec.selector, p.labels))) {
      report(item, 'selector-mismatch', 'spec.selector matches no pod in the set');
    }
  }
  if (obj.kind === 'Service' && isObject(spec.selector) && Object.keys(spec.selector).length > 0) {
    if (!podsInNs.some((p) => selectorMatches({ matchLabels: spec.selector }, p.labels))) {
      report(item, 'selector-mismatch', 'spec.selector matches no pod in the set');
    }
  }
  if (obj.kind === 'NetworkPolicy') {
    if (!selectorIsEmpty(spec.podSelector) && !podsInNs.some((p) => selectorMatches(spec.podSelector, p.labels))) {
      report(item, 'selector-mismatch', 'spec.podSelector matches no pod in the set');
    }
    for (const dir of ['ingress', 'egress']) {
      for (const rule of spec[dir] || []) {
        for (const peer of rule.from || rule.to || []) {
          if (!isObject(peer) || !isObject(peer.podSelector) || peer.namespaceSelector) continue;
          if (!selectorIsEmpty(peer.podSelector) && !podsInNs.some((p) => selectorMatches(peer.podSelector, p.labels))) {
            report(item, 'selector-mismatch', `a ${dir} podSelector matches no pod in the set`);
          }
        }
      }
    }
  }
}

function checkServiceName(index, item) {
  const { obj } = item;
  if (obj.kind !== 'StatefulSet') return;
  const spec = obj.spec || {};
  if (!spec.serviceName) {
    report(item, 'service-name', 'spec.serviceName is not set');
    return;
  }
  const svc = find(index, 'Service', nsOf(obj), spec.serviceName);
  if (!svc) {
    report(item, 'service-name', `spec.serviceName ${spec.serviceName} names no Service in the set`);
    return;
  }
  const sspec = svc.obj.spec || {};
  if (sspec.clusterIP !== 'None') report(item, 'service-name', `Service ${spec.serviceName} is not headless (clusterIP: None)`);
  const tpl = podTemplate(obj);
  if (tpl && !selectorMatches({ matchLabels: sspec.selector || { '': '' } }, tpl.labels)) {
    report(item, 'service-name', `Service ${spec.serviceName} does not select this StatefulSet's pods`);
  }
}

// checkReferences: Secrets, ConfigMaps and keys used by pod specs exist; $(VAR) in env values
// refer to variables defined before them.
function checkReferences(index, item) {
  const tpl = podTemplate(item.obj);
  if (!tpl) return;
  const ns = nsOf(item.obj);
  const secret = (name) => find(index, 'Secret', ns, name);
  const configMap = (name) => find(index, 'ConfigMap', ns, name);
  const secretKeys = (s) => new Set([...Object.keys(s.obj.data || {}), ...Object.keys(s.obj.stringData || {})]);
  const cmKeys = (c) => new Set([...Object.keys(c.obj.data || {}), ...Object.keys(c.obj.binaryData || {})]);

  const needSecret = (ref, where, key) => {
    if (!isObject(ref) || ref.optional === true) return null;
    const s = secret(ref.name);
    if (!s) report(item, 'missing-secret', `${where}: Secret ${ref.name} is not in the set`);
    else if (key !== undefined && !secretKeys(s).has(key)) report(item, 'missing-key', `${where}: Secret ${ref.name} has no key ${key}`);
    return s;
  };
  const needConfigMap = (ref, where, key) => {
    if (!isObject(ref) || ref.optional === true) return null;
    const c = configMap(ref.name);
    if (!c) report(item, 'missing-configmap', `${where}: ConfigMap ${ref.name} is not in the set`);
    else if (key !== undefined && !cmKeys(c).has(key)) report(item, 'missing-key', `${where}: ConfigMap ${ref.name} has no key ${key}`);
    return c;
  };

  for (const c of allContainers(tpl.spec)) {
    const defined = new Set();
    for (const src of c.envFrom || []) {
      if (!isObject(src)) continue;
      const prefix = src.prefix || '';
      if (src.secretRef) {
        const s = needSecret(src.secretRef, `container ${c.name} envFrom`);
        if (s) for (const k of secretKeys(s)) defined.add(prefix + k);
      }
      if (src.configMapRef) {
        const cm = needConfigMap(src.configMapRef, `container ${c.name} envFrom`);
        if (cm) for (const k of cmKeys(cm)) defined.add(prefix + k);
      }
    }
    for (const e of c.env || []) {
      if (!isObject(e)) continue;
      const vf = e.valueFrom || {};
      if (vf.secretKeyRef) needSecret(vf.secretKeyRef, `env ${e.name}`, vf.secretKeyRef.key);
      if (vf.configMapKeyRef) needConfigMap(vf.configMapKeyRef, `env ${e.name}`, vf.configMapKeyRef.key);
      if (typeof e.value === 'string') {
        for (const m of e.value.matchAll(VAR_REF_RE)) {
          if (e.value[m.index - 1] === '$') continue; // $$(X) is an escaped literal
          if (!defined.has(m[1])) report(item, 'env-reference', `env ${e.name} uses $(${m[1]}), which is not defined before it`);
        }
      }
      defined.add(e.name);
    }
  }
  for (const v of tpl.spec.volumes || []) {
    if (!isObject(v)) continue;
    if (v.secret) needSecret({ name: v.secret.secretName, optional: v.secret.optional }, `volume ${v.name}`);
    if (v.configMap) needConfigMap(v.configMap, `volume ${v.name}`);
    for (const src of (v.projected && v.projected.sources) || []) {
      if (src.secret) needSecret(src.secret, `volume ${v.name}`);
      if (src.configMap) needConfigMap(src.configMap, `volume ${v.name}`);
    }
  }
  for (const ref of tpl.spec.imagePullSecrets || []) needSecret(ref, 'imagePullSecrets');
}

// checkVolumes: every volumeMount names a pod volume or a volumeClaimTemplate, and every
// volumeClaimTemplate is mounted.
function checkVolumes(item) {
  const tpl = podTemplate(item.obj);
  if (!tpl) return;
  const claims = item.obj.kind === 'StatefulSet' ? ((item.obj.spec || {}).volumeClaimTemplates || []) : [];
  const names = new Set([...(tpl.spec.volumes || []).map((v) => v && v.name), ...claims.map((c) => meta(c).name)]);
  const mounted = new Set();
  for (const c of allContainers(tpl.spec)) {
    for (const m of c.volumeMounts || []) {
      if (!isObject(m)) continue;
      mounted.add(m.name);
      if (!names.has(m.name)) report(item, 'volumes', `container ${c.name} mounts ${m.name}, which is no volume`);
    }
  }
  for (const c of claims) {
    if (!mounted.has(meta(c).name)) report(item, 'volumes', `volumeClaimTemplate ${meta(c).name} is not mounted`);
  }
}

// checkPodPolicy: resources, non-root security contexts, tagged images, probes and labels.
function checkPodPolicy(item) {
  const { obj } = item;
  const tpl = podTemplate(obj);
  if (!tpl) return;
  const psc = tpl.spec.securityContext || {};
  for (const k of ['app.kubernetes.io/name', 'app.kubernetes.io/part-of']) {
    if (!tpl.labels[k]) report(item, 'labels', `pod template has no ${k} label`);
  }
  if (psc.runAsUser === 0) report(item, 'security-context', 'pod securityContext.runAsUser is 0 (root)');
  for (const c of allContainers(tpl.spec)) {
    const csc = c.securityContext || {};
    const res = c.resources || {};
    const req = res.requests || {};
    const lim = res.limits || {};
    if (!req.cpu || !req.memory || !lim.memory) {
      report(item, 'resources', `container ${c.name} needs requests.cpu, requests.memory and limits.memory`);
    }
    if (!(psc.runAsNonRoot === true || csc.runAsNonRoot === true) || csc.runAsNonRoot === false) {
      report(item, 'security-context', `container ${c.name} is not forced to run as non-root (runAsNonRoot)`);
    }
    if (csc.runAsUser === 0) report(item, 'security-context', `container ${c.name} runs as user 0 (root)`);
    if (csc.allowPrivilegeEscalation !== false) {
      report(item, 'security-context', `container ${c.name} must set allowPrivilegeEscalation: false`);
    }
    if (csc.privileged === true) report(item, 'security-context', `container ${c.name} is privileged`);
    const image = String(c.image || '');
    const last = image.split('/').pop();
    if (!image.includes('@') && (!last.includes(':') || last.endsWith(':latest'))) {
      report(item, 'image-tag', `container ${c.name} image ${image || '(none)'} has no fixed tag`);
    }
  }
  if (['Deployment', 'StatefulSet', 'DaemonSet'].includes(obj.kind)) {
    for (const c of allContainers(tpl.spec, { init: false })) {
      if (!c.readinessProbe || !c.livenessProbe) {
        report(item, 'probes', `container ${c.name} needs a readinessProbe and a livenessProbe`);
      }
    }
  }
}

function pgIsReadyProbeOk(probe) {
  if (!isObject(probe) || !isObject(probe.exec) || !Array.isArray(probe.exec.command)) return false;
  const cmd = probe.exec.command.map(String).join(' ');
  return /\bpg_isready\b/.test(cmd) && /-U trading_user\b/.test(cmd) && /-d trading_db\b/.test(cmd) &&
    /-h 127\.0\.0\.1\b/.test(cmd);
}

// checkPostgresPod: settings shared by shards and the coordinator (database user, PGDATA,
// probes, uid 999), then per role: shard naming and two-phase commit, coordinator preload.
function checkPostgresPod(index, item) {
  const { obj } = item;
  if (obj.kind !== 'StatefulSet') return;
  const name = meta(obj).name;
  const shard = SHARD_RE.exec(name);
  const coordinator = name === 'shardroute-coordinator';
  if (!shard && !coordinator) return;
  const code = shard ? 'shard-settings' : 'coordinator-settings';
  const spec = obj.spec || {};
  const tpl = podTemplate(obj) || { labels: {}, spec: {} };
  const psc = tpl.spec.securityContext || {};
  const pg = (tpl.spec.containers || []).find((c) => isObject(c) && c.name === 'postgres');

  if (shard) {
    const want = `postgres-shard-${shard[1]}`;
    const lbl = meta(obj).labels || {};
    if (lbl.app !== want) report(item, 'shard-mismatch', `metadata label app is ${lbl.app}, must be ${want}`);
    if (tpl.labels.app !== want) report(item, 'shard-mismatch', `pod label app is ${tpl.labels.app}, must be ${want}`);
    const sel = (spec.selector && spec.selector.matchLabels) || {};
    if (sel.app !== want) report(item, 'shard-mismatch', `selector app is ${sel.app}, must be ${want}`);
    for (const l of [lbl, tpl.labels]) {
      const inst = l['app.kubernetes.io/instance'];
      if (inst !== undefined && inst !== want) report(item, 'shard-mismatch', `label app.kubernetes.io/instance is ${inst}, must be ${want}`);
    }
    if (spec.serviceName !== want) report(item, 'shard-mismatch', `serviceName is ${spec.serviceName}, must be ${want}`);
  }
  if (spec.replicas !== undefined && spec.replicas !== 1) report(item, code, 'replicas must be 1 (one server per StatefulSet)');
  if (!(spec.volumeClaimTemplates || []).length) report(item, code, 'needs a volumeClaimTemplate for its data');
  if (psc.runAsUser !== 999 || psc.fsGroup !== 999) {
    report(item, 'security-context', 'postgres pods must set runAsUser: 999 and fsGroup: 999');
  }
  if (!pg) {
    report(item, code, 'has no container named postgres');
    return;
  }
  const image = String(pg.image || '');
  const tag = image.split('/').pop();
  if (shard && tag.includes(':') && !/^postgres:15([.-]|$)/.test(tag)) report(item, code, `image ${image} is not postgres:15`);
  const user = envValue(pg, 'POSTGRES_USER');
  const db = envValue(pg, 'POSTGRES_DB');
  const pw = envValue(pg, 'POSTGRES_PASSWORD');
  if (!user || user.value !== 'trading_user') report(item, code, 'POSTGRES_USER must be trading_user');
  if (!db || db.value !== 'trading_db') report(item, code, 'POSTGRES_DB must be trading_db');
  if (!pw || !(pw.valueFrom && pw.valueFrom.secretKeyRef)) {
    if (!pw || pw.value === undefined) report(item, code, 'POSTGRES_PASSWORD must come from a Secret (secretKeyRef)');
  }
  const pgdata = envValue(pg, 'PGDATA');
  const dataMount = (pg.volumeMounts || []).find((m) => isObject(m) &&
    (spec.volumeClaimTemplates || []).some((c) => meta(c).name === m.name));
  if (!pgdata || !dataMount || typeof pgdata.value !== 'string' ||
      !pgdata.value.startsWith(`${dataMount.mountPath.replace(/\/$/, '')}/`)) {
    report(item, code, 'PGDATA must be a subdirectory of the data volume mount');
  }
  if (!pgIsReadyProbeOk(pg.readinessProbe) || !pgIsReadyProbeOk(pg.livenessProbe)) {
    report(item, 'probes', 'readiness and liveness probes must run pg_isready -U trading_user -d trading_db -h 127.0.0.1');
  }
  const settings = postgresSettings(pg);
  if (!/^[0-9]+$/.test(settings.max_connections || '')) report(item, code, 'args must set -c max_connections=...');
  if (shard) {
    const mpt = Number(settings.max_prepared_transactions);
    if (!(mpt > 0)) report(item, code, 'args must set -c max_prepared_transactions to more than 0 (two-phase commit)');
    const cpu = cpuMillis(((pg.resources || {}).requests || {}).cpu);
    if (cpu !== 500) report(item, 'resources', 'shard postgres container must request cpu 500m');
  } else {
    const spl = String(settings.shared_preload_libraries || '').split(',').map((s) => s.trim());
    if (!spl.includes('shardroute')) report(item, code, 'args must set -c shared_preload_libraries=shardroute');
  }
}

function checkShardServices(item) {
  const { obj } = item;
  if (obj.kind !== 'Service') return;
  const m = SHARD_RE.exec(meta(obj).name || '');
  if (!m) return;
  const want = meta(obj).name;
  const spec = obj.spec || {};
  const sel = spec.selector || {};
  if (sel.app !== want) report(item, 'shard-mismatch', `selector app is ${sel.app}, must be ${want}`);
  const lbl = meta(obj).labels || {};
  if (lbl.app !== undefined && lbl.app !== want) report(item, 'shard-mismatch', `label app is ${lbl.app}, must be ${want}`);
  if (!(spec.ports || []).some((p) => p && p.port === 5432)) report(item, 'shard-mismatch', 'does not expose port 5432');
}

// collectShardMaps: every place that lists shards: ConfigMap data, and literal env values of
// containers. Returns [{item, where, mode, urls: Map(n -> url)}].
function collectShardMaps(items) {
  const maps = [];
  const add = (item, where, entries) => {
    let mode;
    const urls = new Map();
    for (const [k, v] of entries) {
      if (k === 'DATABASE_SHARD_MODE') mode = v;
      const m = SHARD_URL_KEY_RE.exec(k);
      if (m) urls.set(Number(m[1]), { key: k, value: v });
    }
    if (mode !== undefined || urls.size > 0) maps.push({ item, where, mode, urls });
  };
  for (const item of items) {
    if (item.obj.kind === 'ConfigMap') add(item, 'data', Object.entries(item.obj.data || {}));
    const tpl = podTemplate(item.obj);
    if (!tpl) continue;
    for (const c of allContainers(tpl.spec)) {
      const entries = (c.env || []).filter((e) => isObject(e) && typeof e.value === 'string').map((e) => [e.name, e.value]);
      add(item, `container ${c.name} env`, entries);
    }
  }
  return maps;
}

function checkShardMaps(index, items) {
  const shardSets = (index.byKind.get('StatefulSet') || []).filter((it) => SHARD_RE.test(meta(it.obj).name || ''));
  for (const map of collectShardMaps(items)) {
    const { item, where } = map;
    const ns = nsOf(item.obj);
    const m = /^([1-9][0-9]*)way$/.exec(String(map.mode));
    if (map.mode === undefined) {
      report(item, 'shard-mode', `${where}: DATABASE_SHARD_<n>_URL without DATABASE_SHARD_MODE`);
    } else if (!m) {
      report(item, 'shard-mode', `${where}: DATABASE_SHARD_MODE ${map.mode} is not of the form <N>way`);
    } else {
      const n = Number(m[1]);
      const want = [...Array(n).keys()];
      const have = [...map.urls.keys()].sort((a, b) => a - b);
      if (have.join(',') !== want.join(',')) {
        report(item, 'shard-mode', `${where}: DATABASE_SHARD_MODE is ${map.mode} but the URLs are for shards ${have.join(', ') || '(none)'}`);
      }
      const inNs = shardSets.filter((it) => nsOf(it.obj) === ns).length;
      if (inNs > 0 && inNs !== n) {
        report(item, 'shard-mode', `${where}: DATABASE_SHARD_MODE is ${map.mode} but the set has ${inNs} shard StatefulSets`);
      }
    }
    for (const [n, { key, value }] of map.urls) {
      const u = parseDbUrl(String(value));
      if (!u) {
        report(item, 'shard-mismatch', `${where}: ${key} is not a postgresql://user@host:port/db URL`);
        continue;
      }
      const labels = u.host.split('.');
      let svcName = labels[0];
      let nsLabel = labels[1];
      if (labels.length > 1 && SHARD_RE.test(labels[1]) && labels[0].startsWith(`${labels[1]}-`)) {
        svcName = labels[1]; // pod DNS name: postgres-shard-<n>-0.postgres-shard-<n>[.namespace...]
        nsLabel = labels[2];
      }
      const want = `postgres-shard-${n}`;
      if (svcName !== want) {
        report(item, 'shard-mismatch', `${where}: ${key} points at ${u.host}, must be ${want}`);
      }
      if (nsLabel !== undefined && nsLabel !== ns && nsLabel !== 'svc') {
        report(item, 'namespace', `${where}: ${key} points into namespace ${nsLabel}`);
      }
      const svc = find(index, 'Service', ns, svcName);
      if (!svc) report(item, 'shard-mismatch', `${where}: ${key} host ${svcName} is no Service in the set`);
      else if (!((svc.obj.spec || {}).ports || []).some((p) => p && p.port === u.port)) {
        report(item, 'shard-mismatch', `${where}: ${key} uses port ${u.port}, which Service ${svcName} does not expose`);
      }
      if (u.user !== 'trading_user' || u.db !== 'trading_db') {
        report(item, 'shard-settings', `${where}: ${key} must connect as trading_user to trading_db`);
      }
      if (u.password !== undefined && item.obj.kind === 'ConfigMap') {
        report(item, 'literal-password', `${where}: ${key} carries a password in a ConfigMap`);
      }
    }
  }
}

function literalSecretInText(text) {
  const s = String(text);
  const url = /[a-z][a-z0-9+.-]*:\/\/[^:@/\s]+:([^@/\s]+)@/gi;
  for (const m of s.matchAll(url)) if (!/^\$\([A-Za-z_][A-Za-z0-9_]*\)$/.test(m[1])) return true;
  for (const m of s.matchAll(/\bpassword\s*=\s*'?([^'\s]+)/gi)) if (!/^\$\(/.test(m[1])) return true;
  return false;
}

// checkLiteralPasswords: passwords only from Secrets; Secrets with data only in example files.
function checkLiteralPasswords(item) {
  const { obj } = item;
  if (obj.kind === 'Secret') {
    const n = Object.keys(obj.data || {}).length + Object.keys(obj.stringData || {}).length;
    if (n > 0 && !/example/i.test(path.basename(item.file))) {
      report(item, 'literal-password', 'Secret with literal data outside a file named *example*');
    }
    return;
  }
  if (obj.kind === 'ConfigMap') {
    for (const [k, v] of Object.entries(obj.data || {})) {
      if ((SECRET_NAME_RE.test(k) && String(v).length > 0) || literalSecretInText(v)) {
        report(item, 'literal-password', `ConfigMap key ${k} holds a literal password`);
      }
    }
    return;
  }
  const tpl = podTemplate(obj);
  if (!tpl) return;
  for (const c of allContainers(tpl.spec)) {
    for (const e of c.env || []) {
      if (!isObject(e) || typeof e.value !== 'string') continue;
      if ((SECRET_NAME_RE.test(e.name) && e.value.length > 0) || literalSecretInText(e.value)) {
        report(item, 'literal-password', `container ${c.name} env ${e.name} holds a literal password`);
      }
    }
    for (const w of [...(c.command || []), ...(c.args || [])]) {
      if (literalSecretInText(w)) report(item, 'literal-password', `container ${c.name} command line holds a literal password`);
    }
  }
}

function checkKustomization(item) {
  const { obj, file } = item;
  for (const k of Object.keys(obj)) {
    if (!KUSTOMIZATION_FIELDS.has(k)) report(item, 'unknown-field', `${k} is not a Kustomization field`);
  }
  if (obj.namespace !== undefined && obj.namespace !== NAMESPACE) {
    report(item, 'namespace', `namespace is ${obj.namespace}, must be ${NAMESPACE}`);
  }
  for (const r of obj.resources || []) {
    if (typeof r !== 'string' || !fs.existsSync(path.resolve(path.dirname(file), r))) {
      report(item, 'kustomization', `resource ${r} does not exist`);
    }
  }
}

// ---------------------------------------------------------------- main

async function main(argv) {
  const files = argv.filter((a) => !a.startsWith('-'));
  if (files.length === 0 || argv.some((a) => a.startsWith('-'))) {
    process.stderr.write('usage: node validate.js FILE.yaml...\n');
    return 2;
  }
  clientModels = await import('@kubernetes/client-node/dist/gen/models/ObjectSerializer.js');
  const all = loadFiles(files);
  if (errors.length > 0) return finish(files); // cross-checks on a partly read set are noise
  const kustomizations = all.filter((it) => it.obj.kind === 'Kustomization' &&
    String(it.obj.apiVersion).startsWith('kustomize.config.k8s.io/'));
  const items = all.filter((it) => !kustomizations.includes(it));
  kustomizations.forEach(checkKustomization);

  const known = items.filter((item) => checkSchema(item));
  known.forEach(checkUnknownFields);
  const index = buildIndex(known);
  checkDuplicates(known);
  for (const item of known) {
    checkNamespace(item);
    checkSelectors(index, item);
    checkServiceName(index, item);
    checkReferences(index, item);
    checkVolumes(item);
    checkPodPolicy(item);
    checkPostgresPod(index, item);
    checkShardServices(item);
    checkLiteralPasswords(item);
  }
  checkShardMaps(index, known);
  return finish(files, items.length);
}

// finish: prints the problems found and the summary line; returns the exit status.
function finish(files, objects) {
  for (const e of errors) process.stdout.write(`${e.file}: ${e.what}: [${e.code}] ${e.message}\n`);
  if (errors.length > 0) {
    process.stdout.write(`validate: ${errors.length} problem(s) in ${files.length} file(s)\n`);
    return 1;
  }
  process.stdout.write(`validate: ${objects} objects in ${files.length} file(s) are valid\n`);
  return 0;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (e) => {
  process.stderr.write(`validate: ${e.stack || e}\n`);
  process.exitCode = 2;
});
