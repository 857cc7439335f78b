// What a JavaScript client computes with the npm `canonicalize` package (RFC 8785), for the
// record-format interop tests (tests/unit/test_canonical_interop.py).
// stdin: {"values": [json text...], "batches": [{"batch": json text, "plaintext": json text,
//         "ciphertext": base64 of the transaction's second argument}], "batch_fields": [...]}
// argv[2]: the package's folder (.node/node_modules/canonicalize)
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.argv[2];
const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
const { default: canonicalize } = await import(pathToFileURL(join(dir, pkg.main)).href);

const request = JSON.parse(readFileSync(0, 'utf8'));
const sha256 = (...parts) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
};

// The batch's Merkle tree: parent = SHA-256(0x01 ‖ left ‖ right), an odd node carried up.
function merkleRoot (leaves) {
  if (leaves.length === 0) return sha256(Buffer.alloc(0));
  let level = leaves;
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i + 1 < level.length; i += 2) {
      next.push(sha256(Buffer.from([1]), level[i], level[i + 1]));
    }
    if (level.length % 2) next.push(level[level.length - 1]);
    level = next;
  }
  return level[0];
}

const out = {
  version: pkg.version,
  canonical: request.values.map((text) => canonicalize(JSON.parse(text))),
  batches: request.batches.map(({ batch, plaintext, ciphertext }) => {
    const parsed = JSON.parse(batch);
    const body = Object.fromEntries(request.batch_fields.map((k) => [k, parsed[k] ?? null]));
    const content = JSON.parse(plaintext);
    const leaves = content.records.map((record, i) =>
      sha256(Buffer.from(content.salts[i], 'hex'), Buffer.from(canonicalize(record), 'utf8')));
    return {
      id: sha256(Buffer.from(canonicalize(body), 'utf8')).toString('hex'),
      commitments: leaves.map((leaf) => leaf.toString('hex')),
      merkle_root: merkleRoot(leaves).toString('hex'),
      payload_sha256: sha256(Buffer.from(ciphertext, 'base64')).toString('hex')
    };
  })
};
process.stdout.write(JSON.stringify(out));
