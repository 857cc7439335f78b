// Fabric's official Node Gateway SDK against a ledgerlake network, reading only what
// `ledgerlake network up` writes for clients: a connection profile and a wallet entry.
//   NODE_PATH=.node/node_modules node gateway_interop.cjs PROFILE WALLET_ENTRY CHANNEL \
//     CHAINCODE STEP [ARGS...]
// STEP create-stream ID WRAPPED_KEY | get-stream ID | missing-stream ID. Prints one JSON line.
'use strict';
const grpc = require('@grpc/grpc-js');
const { connect, hash, signers, GatewayError } = require('@hyperledger/fabric-gateway');
const canonicalize = require('canonicalize').default;  // an ES module (require(esm), node >= 20.19)
const crypto = require('node:crypto');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const [profilePath, walletEntry, channel, chaincode, step, ...args] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(profilePath, 'utf8'));
const org = profile.organizations[profile.client.organization];
const peer = profile.peers[org.peers[0]];
const wallet = JSON.parse(readFileSync(join(walletEntry, 'id.json'), 'utf8'));

const tlsRoot = Buffer.from([peer.tlsCACerts.pem].flat().join('\n'));
const client = new grpc.Client(peer.url.replace(/^grpcs:\/\//, ''),
                               grpc.credentials.createSsl(tlsRoot));
const gateway = connect({
  client,
  identity: { mspId: wallet.mspId, credentials: Buffer.from(wallet.credentials.certificate) },
  signer: signers.newPrivateKeySigner(crypto.createPrivateKey(wallet.credentials.privateKey)),
  hash: hash.sha256,
});
const contract = gateway.getNetwork(channel).getContract(chaincode);
const text = (bytes) => Buffer.from(bytes).toString('utf8');

async function main() {
  let out;
  if (step === 'create-stream') {
    const [id, wrapped] = args;
    const spec = {
      id, description: 'created by the Node SDK',
      schema: { version: 1, fields: [{ name: 'v', type: 'float', public: true }] },
      writers: { msp_ids: [wallet.mspId] }, readers: [wallet.mspId],
      wrapped_keys: { [wallet.mspId]: wrapped },
    };
    const answer = JSON.parse(text(await contract.submitTransaction('CreateStream',
                                                                   canonicalize(spec))));
    out = { id: answer.id, created: answer.created, createdType: typeof answer.created };
  } else if (step === 'get-stream') {
    const raw = text(await contract.evaluateTransaction('GetStream', args[0]));
    const answer = JSON.parse(raw);
    // the integer rule: a nanosecond time beyond 2^53 arrives as a decimal string, exact
    out = { id: answer.id, created: answer.created, exact: BigInt(answer.created).toString(),
            canonicalAgain: canonicalize(answer) === raw };
  } else if (step === 'missing-stream') {
    await contract.evaluateTransaction('GetStream', args[0]);
    out = { unexpected: 'no error' };
  } else {
    throw new Error(`unknown step ${step}`);
  }
  return out;
}

main()
  .catch((err) => {
    if (!(err instanceof GatewayError)) throw err;
    return { error: err.constructor.name, code: err.code,
             details: err.details.map((d) => d.message) };
  })
  .then((out) => console.log(JSON.stringify(out)))
  .finally(() => { gateway.close(); client.close(); });
