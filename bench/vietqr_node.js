// The Node.js side of bench/run's vietqr row: the same iterations as
// bench/vietqr_png.c (dynamic VietQR payload with vietnam-qr-pay, PNG with
// qrcode: error correction M, quiet zone 4, SCALE pixels per module, the
// payload as one byte-mode segment like libqrencode's, so both draw the same
// symbol), one after the other on one thread. Same output lines:
//   sample <payload of iteration 0>
//   png <width> <bytes>
//   rate <ops per wall second> <ops per CPU second> <iterations> <wall s>
//
//   node bench/vietqr_node.js N SECONDS SCALE BIN ACCOUNT   (NODE_PATH: where the packages are)
// Stops after N iterations or SECONDS of wall time, whichever comes first.
'use strict';
const { QRPay } = require('vietnam-qr-pay');
const QRCode = require('qrcode');

const nmax = parseInt(process.argv[2] || '1000000', 10);
const limit = parseFloat(process.argv[3] || '5');
const scale = parseInt(process.argv[4] || '8', 10);
const bin = process.argv[5] || '970436';
const account = process.argv[6] || '0011001234567';

function payload(i) {
  const qr = QRPay.initVietQR({
    bankBin: bin,
    bankNumber: account,
    amount: String(10000 + (i % 1000) * 1000),
    purpose: 'CDS' + String(i).padStart(10, '0'),
  });
  return qr.build();
}

function png(text) {
  return QRCode.toBuffer([{ data: text, mode: 'byte' }], {
    errorCorrectionLevel: 'M',
    margin: 4,
    scale: scale,
    type: 'png',
  });
}

async function main() {
  const p0 = payload(0);
  const b0 = await png(p0);
  console.log('sample ' + p0);
  console.log('png ' + b0.readUInt32BE(16) + ' ' + b0.length);
  for (let i = 1; i <= 50; i++) await png(payload(i));
  const w0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const end = w0 + BigInt(Math.round(limit * 1e9));
  let bytes = 0;
  let n = 0;
  while (n < nmax && process.hrtime.bigint() < end) bytes += (await png(payload(n++))).length;
  const w = Number(process.hrtime.bigint() - w0) / 1e9;
  const cu = process.cpuUsage(c0);
  const c = (cu.user + cu.system) / 1e6;
  console.log('rate ' + Math.round(n / w) + ' ' + Math.round(n / (c > 0 ? c : w)) + ' ' + n + ' ' + w.toFixed(3));
  console.error('vietqr_node: ' + n + ' payloads + PNGs (' + (bytes / n / 1024).toFixed(1) + ' KiB average) in ' + w.toFixed(3) + ' s');
}

main().catch((e) => {
  console.error('vietqr_node: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
