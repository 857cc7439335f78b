// What a JavaScript client computes with the npm `canonicalize` package (RFC 8785), for the
// record-format interop tests (tests/unit/test_canonical_interop.py).
// stdin: {"values": [json text...], "batches": [{"batch": json text, "plaintext": json text,
//         "ciphertext": base64 of the transaction's second argument}], "batch_fields": [...],
//         "sealed": [{"header": json text, "ciphertext": base64, "key": base64}]}
// argv[2]: the package's folder (.node/node_modules/canonicalize)
import { createDecipheriv, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';

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
// A reader with the data key: AES-256-GCM (tag last) with the batch's context as associated
// data, then the payload's encoding (DEFLATE in a zlib stream, or none).
out.opened = (request.sealed || []).map(({ header, ciphertext, key }) => {
  const batch = JSON.parse(header);
  const ad = canonicalize({ stream: batch.stream, source: batch.source, seq: batch.seq,
                            key_epoch: batch.key_epoch });
  const data = Buffer.from(ciphertext, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', Buffer.from(key, 'base64'),
                                    Buffer.from(batch.payload.nonce, 'base64'));
  decipher.setAAD(Buffer.from(ad, 'utf8'));
  decipher.setAuthTag(data.subarray(data.length - 16));
  const decrypted = Buffer.concat([decipher.update(data.subarray(0, data.length - 16)),
                                   decipher.final()]);
  const plaintext = batch.payload.encoding === 'json+deflate' ? inflateSync(decrypted) : decrypted;
  return { payload_sha256: sha256(data).toString('hex'), plaintext: plaintext.toString('utf8') };
});
process.stdout.write(JSON.stringify(out));
