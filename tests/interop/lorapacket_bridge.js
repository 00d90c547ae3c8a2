#!/usr/bin/env node
// Bridge to lora-packet (npm, pinned in package.json): an independent LoRaWAN implementation
// used by HyperLoRa's cross-check tests.
//
// Protocol: one JSON object per line on stdin, one JSON object per line on stdout.
//   request:  {"id": <any>, "op": "<operation>", ...arguments}
//   response: {"id": <same>, "result": {...}}  or  {"id": <same>, "error": "<message>"}
//
// Conventions (the same as HyperLoRa's printed forms, not the air order):
//   - byte strings are hex; EUIs, DevAddr and NetID are MSB first (as operators write them);
//     keys are the 16 key bytes; CFList is the 16 bytes as they appear in the frame;
//   - counters and nonces are integers: f_cnt is the full 32-bit counter (only its low 16 bits
//     go on the air, the upper 16 bits are passed to lora-packet as FCntMSBytes), join_nonce is
//     24-bit, dev_nonce 16-bit;
//   - mac_version is "1.0" / "1.0.x" or "1.1" / "1.1.x".
//
// Only lora-packet's exported functions and the packet objects it returns are used for the
// LoRaWAN work; this file only marshals arguments. Quirks of lora-packet 0.9.3 this file has to
// know about (see the comments where they are handled):
//   - FCntMSBytes is appended to the little-endian 16-bit FCnt as given, so it must be the upper
//     16 bits in little-endian (air) order, unlike lora-packet's other big-endian fields;
//   - fromFields() computes no MIC for a data frame without FPort;
//   - for a 1.1 uplink, calculateMIC() uses its "NwkSKey" argument for B0 (cmacF, i.e. the
//     FNwkSIntKey) and its "AppKey" argument for B1 (cmacS, i.e. the SNwkSIntKey), and reads
//     ConfFCnt from its 4-byte ConfFCntDownTxDrTxCh argument big-endian (it byte-swaps it);
//   - for a 1.1 downlink it takes a 2-byte ConfFCnt in air order and the SNwkSIntKey as "AppKey";
//   - for a 1.1 JoinAccept (OptNeg set) the MIC key is the "NwkSKey" argument (JSIntKey) and the
//     encryption key the "AppKey" argument; JoinReqType 0 must be given as a Buffer (0 is falsy).
"use strict";

const readline = require("readline");
const lp = require("lora-packet");
const lpVersion = require("lora-packet/package.json").version;

const MTYPES = {
  join_request: 0,
  join_accept: 1,
  unconfirmed_data_up: 2,
  unconfirmed_data_down: 3,
  confirmed_data_up: 4,
  confirmed_data_down: 5,
  rejoin_request: 6,
  proprietary: 7,
};
const MTYPE_NAMES = Object.fromEntries(Object.entries(MTYPES).map(([k, v]) => [v, k]));

class BridgeError extends Error {}

function hex(value, size, what) {
  if (typeof value !== "string") throw new BridgeError(`${what}: expected a hex string`);
  const cleaned = value.replace(/[\s:-]/g, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(cleaned)) throw new BridgeError(`${what}: not hexadecimal`);
  const buf = Buffer.from(cleaned, "hex");
  if (size !== undefined && buf.length !== size) {
    throw new BridgeError(`${what}: expected ${size} bytes, got ${buf.length}`);
  }
  return buf;
}

function optHex(value, what) {
  if (value === undefined || value === null) return Buffer.alloc(0);
  return hex(value, undefined, what);
}

function key(req, name) {
  if (req[name] === undefined || req[name] === null) throw new BridgeError(`missing key ${name}`);
  return hex(req[name], 16, name);
}

function optKey(req, name) {
  if (req[name] === undefined || req[name] === null) return undefined;
  return hex(req[name], 16, name);
}

function uint(value, bits, what) {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new BridgeError(`${what}: expected an unsigned ${bits}-bit integer, got ${value}`);
  }
  return value;
}

function beBytes(value, size) {
  const buf = Buffer.alloc(size);
  for (let i = size - 1; i >= 0; i--) {
    buf[i] = value & 0xff;
    value = Math.floor(value / 256);
  }
  return buf;
}

function is11(req) {
  const v = String(req.mac_version || "1.0");
  if (v.startsWith("1.1")) return true;
  if (v.startsWith("1.0")) return false;
  throw new BridgeError(`mac_version: unsupported ${v}`);
}

function mtypeNumber(value) {
  if (typeof value === "number") return uint(value, 3, "mtype");
  if (typeof value === "string" && value in MTYPES) return MTYPES[value];
  throw new BridgeError(`mtype: unknown ${value}`);
}

// The upper 16 bits of a 32-bit frame counter as lora-packet's FCntMSBytes: air (LE) order.
function fCntMSBytes(fCnt) {
  const msb = Math.floor(fCnt / 0x10000);
  return Buffer.from([msb & 0xff, (msb >> 8) & 0xff]);
}

function isUplinkMType(mtype) {
  return mtype === MTYPES.unconfirmed_data_up || mtype === MTYPES.confirmed_data_up;
}

function merge(packet) {
  // lora-packet's own re-serialisation of the packet fields (private in the typings, public in JS).
  packet._mergeGroupFields();
}

// Arguments of calculateMIC/recalculateMIC/verifyMIC for a data frame (see the header).
function dataMicArgs(req, mtype, fCnt) {
  const msb = fCntMSBytes(fCnt);
  if (!is11(req)) {
    return [key(req, "nwk_s_key"), undefined, msb, undefined];
  }
  const confFCnt = uint(req.conf_f_cnt || 0, 32, "conf_f_cnt") & 0xffff;
  if (isUplinkMType(mtype)) {
    const txDr = uint(req.tx_dr || 0, 8, "tx_dr");
    const txCh = uint(req.tx_ch || 0, 8, "tx_ch");
    // ConfFCnt big-endian here: lora-packet byte-swaps it into the B1 block.
    const conf = Buffer.from([(confFCnt >> 8) & 0xff, confFCnt & 0xff, txDr, txCh]);
    return [key(req, "f_nwk_s_int_key"), key(req, "s_nwk_s_int_key"), msb, conf];
  }
  // Downlink: 2-byte ConfFCnt copied as is into B0, so air (LE) order.
  const conf = Buffer.from([confFCnt & 0xff, (confFCnt >> 8) & 0xff]);
  return [undefined, key(req, "s_nwk_s_int_key"), msb, conf];
}

function fieldsFromRequest(req, mtype, fCnt) {
  const fields = {
    MType: mtype,
    DevAddr: hex(req.dev_addr, 4, "dev_addr"),
    FCnt: fCnt & 0xffff,
    FCtrl: {
      ADR: !!req.adr,
      ADRACKReq: !!req.adr_ack_req,
      ACK: !!req.ack,
      FPending: !!(req.f_pending || req.class_b),
    },
  };
  const fOpts = optHex(req.f_opts, "f_opts");
  if (fOpts.length) fields.FOpts = fOpts;
  if (req.f_port !== undefined && req.f_port !== null) {
    fields.FPort = uint(req.f_port, 8, "f_port");
    fields.payload = optHex(req.payload, "payload");
  } else if (req.payload) {
    throw new BridgeError("payload without f_port");
  } else {
    // No FPort: an empty payload makes fromFields() lay out FHDR only (without it, no MACPayload).
    fields.payload = Buffer.alloc(0);
  }
  return fields;
}

function buildData(req) {
  const mtype = mtypeNumber(req.mtype === undefined ? "unconfirmed_data_up" : req.mtype);
  if (mtype < 2 || mtype > 5) throw new BridgeError("build_data: mtype must be a data message");
  const fCnt = uint(req.f_cnt || 0, 32, "f_cnt");
  const fields = fieldsFromRequest(req, mtype, fCnt);
  const hasPort = fields.FPort !== undefined;
  const msb = fCntMSBytes(fCnt);
  let packet;
  if (!is11(req)) {
    const nwkSKey = key(req, "nwk_s_key");
    const appSKey = optKey(req, "app_s_key");
    // The documented one-call path: encrypts FRMPayload (AppSKey, or NwkSKey on FPort 0) and
    // sets the MIC.
    packet = lp.fromFields(fields, appSKey, nwkSKey, undefined, msb);
    if (!hasPort) {
      // fromFields() leaves the MIC at EEEEEEEE when there is no FPort.
      lp.recalculateMIC(packet, ...dataMicArgs(req, mtype, fCnt));
    }
  } else {
    // LoRaWAN 1.1: FRMPayload with AppSKey (FPort > 0) or NwkSEncKey (FPort 0), FOpts with
    // NwkSEncKey, then the two-part (uplink) or SNwkSIntKey (downlink) MIC.
    packet = lp.fromFields(fields);
    const nwkSEncKey = key(req, "nwk_s_enc_key");
    if (hasPort && packet.FRMPayload.length) {
      const appSKey = fields.FPort === 0 ? undefined : key(req, "app_s_key");
      packet.FRMPayload = lp.decrypt(packet, appSKey, nwkSEncKey, msb);
      merge(packet);
    }
    if (packet.FOpts && packet.FOpts.length) {
      packet.encryptFOpts(nwkSEncKey, undefined, msb);
    }
    lp.recalculateMIC(packet, ...dataMicArgs(req, mtype, fCnt));
    merge(packet);
  }
  return {
    phy_payload: packet.getPHYPayload().toString("hex"),
    mic: packet.MIC.toString("hex"),
  };
}

function describeData(packet) {
  const fctrl = packet.FCtrl[0];
  return {
    mtype: MTYPE_NAMES[packet.MHDR[0] >> 5],
    major: packet.MHDR[0] & 0x03,
    dir: packet.getDir(),
    dev_addr: packet.DevAddr.toString("hex"),
    adr: packet.getFCtrlADR(),
    adr_ack_req: packet.getFCtrlADRACKReq(),
    ack: packet.getFCtrlACK(),
    f_pending: packet.getFCtrlFPending(),
    f_opts_len: fctrl & 0x0f,
    f_cnt16: packet.getFCnt(),
    f_opts_wire: packet.FOpts.toString("hex"),
    f_port: packet.getFPort(),
    frm_payload_wire: packet.FRMPayload.toString("hex"),
    mic: packet.MIC.toString("hex"),
    confirmed: packet.isConfirmed(),
  };
}

function decodeData(req) {
  const wire = hex(req.phy_payload, undefined, "phy_payload");
  const packet = lp.fromWire(wire);
  if (!packet.isDataMessage()) {
    throw new BridgeError(`decode_data: not a data message (${packet.getMType()})`);
  }
  const out = describeData(packet);
  const mtype = packet.MHDR[0] >> 5;
  let fCnt = packet.getFCnt();
  if (req.f_cnt_msb !== undefined && req.f_cnt_msb !== null) {
    fCnt += uint(req.f_cnt_msb, 16, "f_cnt_msb") * 0x10000;
  } else if (req.f_cnt !== undefined && req.f_cnt !== null) {
    fCnt = uint(req.f_cnt, 32, "f_cnt");
    if ((fCnt & 0xffff) !== packet.getFCnt()) throw new BridgeError("f_cnt: low 16 bits differ");
  }
  out.f_cnt = fCnt;
  const msb = fCntMSBytes(fCnt);
  out.mic_expected = lp.calculateMIC(packet, ...dataMicArgs(req, mtype, fCnt)).toString("hex");
  out.mic_valid = lp.verifyMIC(packet, ...dataMicArgs(req, mtype, fCnt));
  const v11 = is11(req);
  const netEncKey = v11 ? optKey(req, "nwk_s_enc_key") : optKey(req, "nwk_s_key");
  const appSKey = optKey(req, "app_s_key");
  out.payload = null;
  if (out.f_port !== null) {
    const needed = out.f_port === 0 ? netEncKey : appSKey;
    if (needed) out.payload = lp.decrypt(packet, appSKey, netEncKey, msb).toString("hex");
  }
  out.f_opts = out.f_opts_wire;
  if (v11 && packet.FOpts.length) {
    if (!netEncKey) throw new BridgeError("missing key nwk_s_enc_key");
    out.f_opts = packet.decryptFOpts(netEncKey, undefined, msb).toString("hex");
  }
  return out;
}

function buildJoinRequest(req) {
  const packet = lp.fromFields(
    {
      MType: MTYPES.join_request,
      AppEUI: hex(req.join_eui, 8, "join_eui"),
      DevEUI: hex(req.dev_eui, 8, "dev_eui"),
      DevNonce: beBytes(uint(req.dev_nonce, 16, "dev_nonce"), 2),
    },
    undefined,
    undefined,
    key(req, "key")
  );
  return { phy_payload: packet.getPHYPayload().toString("hex"), mic: packet.MIC.toString("hex") };
}

function verifyJoinRequest(req) {
  const packet = lp.fromWire(hex(req.phy_payload, undefined, "phy_payload"));
  if (!packet.isJoinRequestMessage()) throw new BridgeError(`not a join request (${packet.getMType()})`);
  const k = key(req, "key");
  return {
    join_eui: packet.AppEUI.toString("hex"),
    dev_eui: packet.DevEUI.toString("hex"),
    dev_nonce: packet.DevNonce.readUInt16BE(0),
    mic: packet.MIC.toString("hex"),
    mic_expected: lp.calculateMIC(packet, undefined, k).toString("hex"),
    mic_valid: lp.verifyMIC(packet, undefined, k),
  };
}

function dlSettings(req) {
  if (req.dl_settings !== undefined && req.dl_settings !== null) return uint(req.dl_settings, 8, "dl_settings");
  return (
    (req.opt_neg ? 0x80 : 0) |
    (uint(req.rx1_dr_offset || 0, 3, "rx1_dr_offset") << 4) |
    uint(req.rx2_dr || 0, 4, "rx2_dr")
  );
}

// For a 1.1 JoinAccept (OptNeg): the extra MIC inputs on the packet object, as lora-packet
// reads them (big-endian buffers, reversed by calculateMIC).
function setJoinAccept11Context(packet, req) {
  packet.JoinReqType = Buffer.from([uint(req.join_req_type === undefined ? 0xff : req.join_req_type, 8, "join_req_type")]);
  packet.AppEUI = hex(req.join_eui, 8, "join_eui");
  packet.DevNonce = beBytes(uint(req.dev_nonce, 16, "dev_nonce"), 2);
}

function buildJoinAccept(req) {
  const settings = dlSettings(req);
  const optNeg = (settings & 0x80) !== 0;
  const fields = {
    MType: MTYPES.join_accept,
    AppNonce: beBytes(uint(req.join_nonce, 24, "join_nonce"), 3),
    NetID: hex(req.net_id, 3, "net_id"),
    DevAddr: hex(req.dev_addr, 4, "dev_addr"),
    DLSettings: Buffer.from([settings]),
    RxDelay: Buffer.from([uint(req.rx_delay || 0, 8, "rx_delay")]),
    CFList: optHex(req.cf_list, "cf_list"),
  };
  let micKey;
  if (optNeg) {
    fields.JoinReqType = Buffer.from([uint(req.join_req_type === undefined ? 0xff : req.join_req_type, 8, "join_req_type")]);
    fields.AppEUI = hex(req.join_eui, 8, "join_eui");
    fields.DevNonce = beBytes(uint(req.dev_nonce, 16, "dev_nonce"), 2);
    micKey = key(req, "js_int_key");
  }
  // "key" encrypts (and, for 1.0, signs): AppKey (1.0), NwkKey (1.1 join), JSEncKey (rejoin).
  const packet = lp.fromFields(fields, undefined, micKey, key(req, "key"));
  return {
    phy_payload: packet.getPHYPayload().toString("hex"),
    mic: packet.MIC.toString("hex"), // the plaintext MIC (the frame carries it encrypted)
  };
}

function decryptJoinAccept(req) {
  const k = key(req, "key");
  const encrypted = lp.fromWire(hex(req.phy_payload, undefined, "phy_payload"));
  if (!encrypted.isJoinAcceptMessage()) throw new BridgeError(`not a join accept (${encrypted.getMType()})`);
  const plain = lp.decryptJoinAccept(encrypted, k);
  const packet = lp.fromWire(plain);
  const optNeg = packet.getDLSettingsOptNeg();
  let micArgs = [undefined, k];
  if (optNeg) {
    setJoinAccept11Context(packet, req);
    micArgs = [key(req, "js_int_key"), k];
  }
  return {
    plaintext: plain.toString("hex"),
    join_nonce: packet.AppNonce.readUIntBE(0, 3),
    net_id: packet.NetID.toString("hex"),
    dev_addr: packet.DevAddr.toString("hex"),
    dl_settings: packet.DLSettings[0],
    opt_neg: optNeg,
    rx1_dr_offset: packet.getDLSettingsRxOneDRoffset(),
    rx2_dr: packet.getDLSettingsRxTwoDataRate(),
    rx_delay: packet.RxDelay[0],
    cf_list: packet.CFList.toString("hex"),
    mic: packet.MIC.toString("hex"),
    mic_expected: lp.calculateMIC(packet, ...micArgs).toString("hex"),
    mic_valid: lp.verifyMIC(packet, ...micArgs),
  };
}

function sessionKeys10(req) {
  const keys = lp.generateSessionKeys10(
    key(req, "key"),
    hex(req.net_id, 3, "net_id"),
    beBytes(uint(req.join_nonce, 24, "join_nonce"), 3),
    beBytes(uint(req.dev_nonce, 16, "dev_nonce"), 2)
  );
  return { nwk_s_key: keys.NwkSKey.toString("hex"), app_s_key: keys.AppSKey.toString("hex") };
}

function sessionKeys11(req) {
  const keys = lp.generateSessionKeys11(
    key(req, "app_key"),
    key(req, "nwk_key"),
    hex(req.join_eui, 8, "join_eui"),
    beBytes(uint(req.join_nonce, 24, "join_nonce"), 3),
    beBytes(uint(req.dev_nonce, 16, "dev_nonce"), 2)
  );
  return {
    f_nwk_s_int_key: keys.FNwkSIntKey.toString("hex"),
    s_nwk_s_int_key: keys.SNwkSIntKey.toString("hex"),
    nwk_s_enc_key: keys.NwkSEncKey.toString("hex"),
    app_s_key: keys.AppSKey.toString("hex"),
  };
}

function jsKeys(req) {
  const keys = lp.generateJSKeys(key(req, "nwk_key"), hex(req.dev_eui, 8, "dev_eui"));
  return { js_int_key: keys.JSIntKey.toString("hex"), js_enc_key: keys.JSEncKey.toString("hex") };
}

const OPS = {
  ping: () => ({ lora_packet: lpVersion, node: process.version }),
  build_data: buildData,
  decode_data: decodeData,
  build_join_request: buildJoinRequest,
  verify_join_request: verifyJoinRequest,
  build_join_accept: buildJoinAccept,
  decrypt_join_accept: decryptJoinAccept,
  session_keys_10: sessionKeys10,
  session_keys_11: sessionKeys11,
  js_keys: jsKeys,
};

function handle(line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (err) {
    return { id: null, error: `invalid JSON: ${err.message}` };
  }
  const id = req && req.id !== undefined ? req.id : null;
  const op = req && OPS[req.op];
  if (!op) return { id, error: `unknown op ${req && req.op}` };
  try {
    return { id, result: op(req) };
  } catch (err) {
    const kind = err instanceof BridgeError ? "bad request" : "lora-packet";
    return { id, error: `${kind}: ${err.message}` };
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
rl.on("line", (line) => {
  if (!line.trim()) return;
  process.stdout.write(JSON.stringify(handle(line)) + "\n");
});
rl.on("close", () => process.exit(0));
