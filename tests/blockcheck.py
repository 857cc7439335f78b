"""Compare ledgerlake's block decoder with Fabric's own ``configtxlator proto_decode``.

Both sides are reduced to the same plain form: the decoder's typed ``Block`` by
``normalize``, configtxlator's JSON (an independent decoder, written in Go) by
``from_configtxlator``.

The orderers' signatures are compared whole: Raft signers are named by a signature header
(MSP ID + certificate), SmartBFT signers by an identifier header (consenter id). Every key
configtxlator shows in the signature metadata is either compared or listed in
``NOT_DECODED`` with the reason; an unknown key fails the comparison, so a field that
configtxlator shows cannot be left out silently.
"""

from __future__ import annotations

import base64
import json
import subprocess

from ledgerlake.client.blocks import Block

#: Keys configtxlator shows in the block metadata that ledgerlake's decoder does not expose:
#: the signers' nonces (random, only needed to re-verify a signature, which uses
#: ``Block.raw``) and SmartBFT's consenter metadata (view and sequence of the consensus
#: round, not part of what the block says).
NOT_DECODED = {"nonce", "consenter_metadata"}

HEADER_TYPES = {0: "MESSAGE", 1: "CONFIG", 2: "CONFIG_UPDATE", 3: "ENDORSER_TRANSACTION",
                4: "ORDERER_TRANSACTION", 5: "DELIVER_SEEK_INFO", 6: "CHAINCODE_PACKAGE"}


def normalize(block: Block) -> dict:
    return {
        "number": block.number, "previous_hash": block.previous_hash.hex(),
        "data_hash": block.data_hash.hex(), "last_config": block.last_config,
        "signatures": [{"msp_id": s.creator.msp_id if s.creator else "",
                        "certificate": s.creator.certificate.decode() if s.creator else "",
                        "consenter_id": s.consenter_id,
                        "signature": s.signature.hex()} for s in block.signatures],
        "transactions": [{
            "tx_id": t.tx_id, "channel_id": t.channel_id, "type": t.type,
            "creator_msp_id": t.creator.msp_id, "creator_certificate": t.creator.certificate.decode(),
            "timestamp": t.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "validation_code": t.validation_code, "chaincode": t.chaincode,
            "function": t.function, "args": [a.hex() for a in t.args],
            "rwsets": [{"namespace": ns.namespace,
                        "reads": [[r.key, list(r.version) if r.version else None] for r in ns.reads],
                        "writes": [[w.key, w.value.hex(), w.is_delete] for w in ns.writes]}
                       for ns in t.rwsets],
            "event": None if t.event is None else {
                "chaincode_id": t.event.chaincode_id, "tx_id": t.event.tx_id,
                "event_name": t.event.event_name, "payload": t.event.payload.hex()},
        } for t in block.transactions],
    }


def _b64hex(value) -> str:
    return base64.b64decode(value or "").hex()


def _decode(configtxlator: str, type_: str, data: bytes) -> dict:
    proc = subprocess.run([configtxlator, "proto_decode", "--type", type_], input=data,
                          capture_output=True, check=True)
    return json.loads(proc.stdout)


def _known(doc: dict, compared: set[str], what: str) -> dict:
    """``doc`` if configtxlator shows no key beyond ``compared`` and ``NOT_DECODED``."""
    unknown = set(doc) - compared - NOT_DECODED
    if unknown:
        raise AssertionError(f"configtxlator shows {what} field(s) {sorted(unknown)} that the "
                             f"comparison does not cover")
    return doc


def _timestamp(text: str) -> str:
    date, _, frac = text.rstrip("Z").partition(".")
    return date + "." + (frac + "000000")[:6]


def from_configtxlator(block_bytes: bytes, configtxlator: str) -> dict:
    doc = _decode(configtxlator, "common.Block", block_bytes)
    metadata = doc["metadata"]["metadata"]
    flags = base64.b64decode(metadata[2] or "")
    sig_meta = _decode(configtxlator, "common.Metadata", base64.b64decode(metadata[0])) \
        if metadata[0] else {"value": None, "signatures": []}
    _known(sig_meta, {"value", "signatures"}, "signature metadata")
    last_config = 0
    if sig_meta.get("value"):
        obm = _known(_decode(configtxlator, "common.OrdererBlockMetadata",
                             base64.b64decode(sig_meta["value"])),
                     {"last_config"}, "orderer block metadata")
        last_config = int((obm.get("last_config") or {}).get("index", 0))
    signatures = []
    for s in sig_meta.get("signatures") or []:
        _known(s, {"signature_header", "identifier_header", "signature"}, "signature")
        msp, cert, consenter = "", "", 0
        if s.get("signature_header"):  # Raft: the signer's certificate
            sh = _known(_decode(configtxlator, "common.SignatureHeader",
                                base64.b64decode(s["signature_header"])),
                        {"creator"}, "signature header")
            ident = sh["creator"] if isinstance(sh["creator"], dict) else _decode(
                configtxlator, "msp.SerializedIdentity", base64.b64decode(sh["creator"]))
            msp, cert = ident["mspid"], base64.b64decode(ident["id_bytes"]).decode()
        if s.get("identifier_header"):  # SmartBFT: the signer's consenter id
            ih = _known(_decode(configtxlator, "common.IdentifierHeader",
                                base64.b64decode(s["identifier_header"])),
                        {"identifier"}, "identifier header")
            consenter = int(ih.get("identifier", 0))
        signatures.append({"msp_id": msp, "certificate": cert, "consenter_id": consenter,
                           "signature": _b64hex(s["signature"])})
    txs = []
    for i, env in enumerate(doc["data"]["data"]):
        payload = env["payload"]
        ch = payload["header"]["channel_header"]
        creator = (payload["header"].get("signature_header") or {}).get("creator") or {}
        tx = {"tx_id": ch.get("tx_id", ""), "channel_id": ch["channel_id"],
              "type": HEADER_TYPES[ch["type"]], "creator_msp_id": creator.get("mspid", ""),
              "creator_certificate": base64.b64decode(creator.get("id_bytes") or "").decode(),
              "timestamp": _timestamp(ch["timestamp"]), "validation_code": flags[i],
              "chaincode": "", "function": "", "args": [], "rwsets": [], "event": None}
        if ch["type"] == 3:
            action = payload["data"]["actions"][0]["payload"]
            args = action["chaincode_proposal_payload"]["input"]["chaincode_spec"]["input"]["args"]
            ext = action["action"]["proposal_response_payload"]["extension"]
            tx.update(chaincode=ext["chaincode_id"]["name"],
                      function=base64.b64decode(args[0]).decode(),
                      args=[_b64hex(a) for a in args[1:]])
            tx["rwsets"] = [{
                "namespace": ns["namespace"],
                "reads": [[r["key"], [int(r["version"]["block_num"]), int(r["version"]["tx_num"])]
                           if r.get("version") else None] for r in ns["rwset"]["reads"]],
                "writes": [[w["key"], _b64hex(w.get("value")), bool(w.get("is_delete"))]
                           for w in ns["rwset"]["writes"]],
            } for ns in ext["results"]["ns_rwset"]]
            ev = ext.get("events")
            if ev:
                tx["event"] = {"chaincode_id": ev["chaincode_id"], "tx_id": ev["tx_id"],
                               "event_name": ev["event_name"], "payload": _b64hex(ev.get("payload"))}
        txs.append(tx)
    header = doc["header"]
    return {"number": int(header["number"]), "previous_hash": _b64hex(header.get("previous_hash")),
            "data_hash": _b64hex(header["data_hash"]), "last_config": last_config,
            "signatures": signatures, "transactions": txs}
