// aidlink review console: the officer's browser verifies what it shows.
// Checkpoints are C2SP signed notes (Ed25519, WebCrypto); entries are RFC 9162 leaves
// (SHA-256 of 0x00 || body); inclusion and consistency proofs follow RFC 9162 2.1.3.2 and 2.1.4.2.
// Hand-written (about 200 lines) so that no build step or CDN is needed; the server's answers
// are only data to check: nothing here trusts them.

const encoder = new TextEncoder();
const messages = JSON.parse(document.getElementById("console-messages").textContent);

function say(key, values = {}) {
  return messages[key].replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
}

// Control, bidi-formatting and line-separator characters are shown as \uXXXX (as on the server).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;
export function escapeForOfficer(text) {
  return text.replace(UNSAFE, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

export function b64decode(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export const hashLeaf = (body) => sha256(concat(new Uint8Array([0]), body));
const hashChildren = (left, right) => sha256(concat(new Uint8Array([1]), left, right));
const isOdd = (n) => n % 2 === 1;
const half = (n) => Math.floor(n / 2);  // sizes pass 2^31: no 32-bit bit operators on them
function isPowerOfTwo(n) {
  while (n > 1 && n % 2 === 0) n /= 2;
  return n === 1;
}

// RFC 9162 2.1.3.2: does `proof` lead from `leaf` at `index` to `root` of a tree of `size`?
export async function verifyInclusion(index, size, leaf, proof, root) {
  if (index >= size) return false;
  let fn = index, sn = size - 1, r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = await hashChildren(p, r);
      if (!isOdd(fn)) { while (!isOdd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); } }
    } else {
      r = await hashChildren(r, p);
    }
    fn = half(fn); sn = half(sn);
  }
  return sn === 0 && equal(r, root);
}

// RFC 9162 2.1.4.2: is the tree (size1, root1) a prefix of the tree (size2, root2)?
export async function verifyConsistency(size1, size2, proof, root1, root2) {
  if (size1 > size2) return false;
  if (size1 === size2) return proof.length === 0 && equal(root1, root2);
  if (size1 === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  let path = proof;
  if (isPowerOfTwo(size1)) path = [root1, ...proof];
  let fn = size1 - 1, sn = size2 - 1;
  while (isOdd(fn)) { fn = half(fn); sn = half(sn); }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = await hashChildren(c, fr);
      sr = await hashChildren(c, sr);
      if (!isOdd(fn)) { while (!isOdd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); } }
    } else {
      sr = await hashChildren(sr, c);
    }
    fn = half(fn); sn = half(sn);
  }
  return sn === 0 && equal(fr, root1) && equal(sr, root2);
}

function uint32(bytes) {
  return ((bytes[0] << 24) >>> 0) + (bytes[1] << 16) + (bytes[2] << 8) + bytes[3];
}

// A verifier key: <name>+<8 hex digits key hash>+<base64(0x01 || 32-byte Ed25519 public key)>.
async function parseVerifierKey(vkey) {
  const match = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey);  // base64 may hold '+'
  if (!match) throw new Error(`malformed verifier key ${escapeForOfficer(vkey)}`);
  const parts = match.slice(1);
  const raw = b64decode(parts[2]);
  if (raw.length !== 33 || raw[0] !== 1) throw new Error("verifier key is not an Ed25519 key");
  const name = parts[0], publicKey = raw.slice(1);
  const digest = await sha256(concat(encoder.encode(name + "\n"), raw));
  if (uint32(digest) !== parseInt(parts[1], 16)) throw new Error("verifier key hash does not match its key");
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  return { name, hash: uint32(digest), key };
}

// Open a signed checkpoint note: the signature by the verifier key must verify; returns its body.
export async function openCheckpoint(note, vkey) {
  const split = note.indexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new Error("the note has no signature block");
  const text = note.slice(0, split + 1);
  const verifier = await parseVerifierKey(vkey);
  for (const line of note.slice(split + 2, -1).split("\n")) {
    if (!line.startsWith("\u2014 ")) throw new Error(`malformed signature line ${escapeForOfficer(line)}`);
    const [name, signature] = line.slice(2).split(" ");
    if (name !== verifier.name) continue;
    const sig = b64decode(signature);
    if (sig.length !== 68 || uint32(sig) !== verifier.hash) continue;
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, verifier.key, sig.slice(4), encoder.encode(text));
    if (!ok) throw new Error(`the signature by ${name} does not verify`);
    const lines = text.slice(0, -1).split("\n");
    if (lines.length < 3 || !/^(0|[1-9][0-9]*)$/.test(lines[1])) throw new Error("malformed checkpoint body");
    const root = b64decode(lines[2]);
    if (root.length !== 32) throw new Error("checkpoint root is not 32 bytes");
    return { origin: lines[0], size: Number(lines[1]), root };
  }
  throw new Error(`the note carries no signature by ${verifier.name}`);
}

// C2SP tlog-cosignature v1: a witness's line "— <name> base64(key ID || u64 time || Ed25519 signature)"
// over "cosignature/v1\ntime <time>\n" + the checkpoint body; its verifier key is
// <name>+<key ID hex>+base64(0x04 || public key), key ID = SHA-256(name || "\n" || 0x04 || key)[:4].
async function parseWitnessKey(vkey) {
  const match = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey);
  if (!match) throw new Error(`malformed witness key ${escapeForOfficer(vkey)}`);
  const [name, id, key64] = match.slice(1);
  const raw = b64decode(key64);
  if (raw.length !== 33 || raw[0] !== 4) throw new Error(`witness key of ${escapeForOfficer(name)} is not a cosignature/v1 key`);
  const digest = await sha256(concat(encoder.encode(name + "\n"), raw));
  if (uint32(digest) !== parseInt(id, 16)) throw new Error(`witness key ID of ${escapeForOfficer(name)} does not match its key`);
  const key = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
  return { name, id: uint32(digest), key };
}

// Each configured witness's cosignature on `note` among `lines`: {name, time} when it verifies;
// throws naming the witness when a line claiming to be its cosignature does not verify; returns
// {name, missing: true} when the witness has not cosigned this checkpoint.
export async function checkCosignatures(note, lines, witnessKeys) {
  const body = encoder.encode(note.slice(0, note.indexOf("\n\n") + 1));
  const results = [];
  for (const vkey of witnessKeys) {
    const witness = await parseWitnessKey(vkey);
    let found = null;
    for (const line of lines) {
      if (!line.startsWith("\u2014 ")) continue;
      const [name, encoded] = line.slice(2).split(" ");
      if (name !== witness.name) continue;
      const raw = b64decode(encoded);
      if (raw.length !== 76 || uint32(raw) !== witness.id) continue;
      const time = new DataView(raw.buffer, raw.byteOffset + 4, 8).getBigUint64(0);
      const message = concat(encoder.encode(`cosignature/v1\ntime ${time}\n`), body);
      const ok = await crypto.subtle.verify({ name: "Ed25519" }, witness.key, raw.slice(12), message);
      if (!ok) throw new Error(say("cosignature_bad", { witness: escapeForOfficer(witness.name) }));
      found = { name: witness.name, time: new Date(Number(time) * 1000).toISOString().replace(".000Z", "Z") };
    }
    results.push(found ?? { name: witness.name, missing: true });
  }
  return results;
}
const witnessKeys = () => [...document.querySelectorAll('meta[name="aidlink-witness-key"]')].map((m) => m.content);

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `${response.status}`);
  return data;
}

// The audit verifier key is pinned in this browser on first use: a console that later serves
// another key (to vouch for checkpoints it signed itself) fails every check until the officer
// deliberately trusts the new key (the button in the footer, e.g. after a key rotation).
const PINNED = "aidlink-verifier-key";
const servedKey = () => document.querySelector('meta[name="aidlink-verifier-key"]').content;
function trustedKey() {
  const pinned = localStorage.getItem(PINNED);
  if (pinned === null) {
    localStorage.setItem(PINNED, servedKey());
    return servedKey();
  }
  if (pinned !== servedKey()) throw new Error(say("key_changed", { pinned: escapeForOfficer(pinned) }));
  return pinned;
}
function showPinnedKey() {
  const shown = document.getElementById("pinned-key");
  if (shown) shown.textContent = localStorage.getItem(PINNED) ?? servedKey();
  const button = document.getElementById("pin-key");
  if (button) button.addEventListener("click", () => { localStorage.setItem(PINNED, servedKey()); location.reload(); });
}

function mark(cell, state, text) {
  cell.dataset.verification = state;
  cell.textContent = text;
}

// Verify every entry the page shows ([data-seq] with a .verification cell) against the newest checkpoint.
async function verifyShownEntries() {
  const holders = [...document.querySelectorAll("[data-seq]")];
  if (holders.length === 0) return;
  const status = document.getElementById("checkpoint-status");
  const query = holders.map((h) => `seq=${encodeURIComponent(h.dataset.seq)}`).join("&");
  let data, checkpoint;
  try {
    data = await getJSON(`/api/proofs?${query}`);
    if (!data.checkpoint) { status.textContent = say("no_checkpoint"); return; }
    checkpoint = await openCheckpoint(data.checkpoint.note, trustedKey());
    checkpoint.witnessed = await checkCosignatures(data.checkpoint.note, data.checkpoint.cosignatures || [], witnessKeys());
  } catch (error) {
    status.classList.add("failed");
    status.textContent = say("checkpoint_failed", { error: escapeForOfficer(String(error.message || error)) });
    for (const h of holders) mark(h.querySelector(".verification"), "failed", status.textContent);
    return;
  }
  const number = data.checkpoint.number;
  status.dataset.checkpoint = String(number);
  const witnessed = checkpoint.witnessed.map((w) =>
    w.missing ? say("not_cosigned", { witness: escapeForOfficer(w.name) }) : say("cosigned", { witness: escapeForOfficer(w.name), time: w.time }));
  status.textContent = [say("verified", { number, size: checkpoint.size }), ...witnessed].join("; ");
  status.dataset.witnessed = checkpoint.witnessed.every((w) => !w.missing) ? "all" : "missing";
  if (status.dataset.witnessed === "missing") status.classList.add("unwitnessed");
  const bySeq = new Map(data.entries.map((e) => [String(e.seq), e]));
  for (const holder of holders) {
    const seq = Number(holder.dataset.seq);
    const cell = holder.querySelector(".verification");
    const item = bySeq.get(holder.dataset.seq);
    if (!item || !item.covered) { mark(cell, "not-covered", say("not_covered", { seq, number })); continue; }
    const body = b64decode(item.body);
    const leaf = await hashLeaf(body);
    if (!equal(leaf, b64decode(item.leaf_hash))) { mark(cell, "failed", say("leaf_mismatch", { seq })); continue; }
    let record = null;
    try { record = JSON.parse(new TextDecoder().decode(body)); } catch { record = { seq: "?" }; }
    if (record.seq !== seq) { mark(cell, "failed", say("seq_mismatch", { seq, found: record.seq })); continue; }
    // What the page shows must be what the verified record holds, field by field.
    const differs = [...holder.querySelectorAll("[data-field]")].find(
      (shown) => shown.textContent !== escapeForOfficer(String(record[shown.dataset.field] ?? "")));
    if (differs) { mark(cell, "failed", say("shown_differs", { seq, field: differs.dataset.field })); continue; }
    const proof = item.proof.map(b64decode);
    if (!(await verifyInclusion(seq, checkpoint.size, leaf, proof, checkpoint.root))) {
      mark(cell, "failed", say("proof_mismatch", { seq, number }));
      continue;
    }
    mark(cell, "verified", say("verified", { number, size: checkpoint.size }));
    const shown = document.getElementById("verified-body");
    if (shown) {
      const pretty = JSON.stringify(JSON.parse(new TextDecoder().decode(body)), null, 1);
      shown.textContent = pretty.split("\n").map(escapeForOfficer).join("\n");  // JSON strings hold no raw newline
    }
  }
  document.body.dataset.verificationDone = "true";
}

async function checkConsistency(event) {
  event.preventDefault();
  const out = document.getElementById("consistency-result");
  const from = document.getElementById("checkpoint-from").value;
  const to = document.getElementById("checkpoint-to").value;
  out.classList.remove("failed");
  out.dataset.result = "pending";
  try {
    const data = await getJSON(`/api/consistency?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    const cp1 = await openCheckpoint(data.checkpoint1.note, trustedKey());
    const cp2 = await openCheckpoint(data.checkpoint2.note, trustedKey());
    const values = { n1: data.checkpoint1.number, n2: data.checkpoint2.number, s1: cp1.size, s2: cp2.size };
    const ok = cp1.origin === cp2.origin &&
      await verifyConsistency(cp1.size, cp2.size, data.proof.map(b64decode), cp1.root, cp2.root);
    out.dataset.result = ok ? "consistent" : "inconsistent";
    if (!ok) out.classList.add("failed");
    out.textContent = say(ok ? "consistent" : "inconsistent", values);
  } catch (error) {
    out.dataset.result = "failed";
    out.classList.add("failed");
    out.textContent = say("checkpoint_failed", { error: escapeForOfficer(String(error.message || error)) });
  }
}

showPinnedKey();
const form = document.getElementById("consistency-form");
if (form) form.addEventListener("submit", checkConsistency);
verifyShownEntries();
