/**
 * Kerberos figures, each beside its reference measured in the same run:
 *
 * - the handshake: AS + TGS against a real MIT KDC on loopback, then the AP-REQ/AP-REP with our
 *   acceptor (the first connection's cost), and the AP exchange alone with the ticket kept (every
 *   later connection's cost), beside our NTLM handshake (NEGOTIATE, CHALLENGE, AUTHENTICATE);
 * - message protection: CFX wrap + unwrap with aes256-cts-hmac-sha1-96 in the WinRM layout,
 *   beside the same bytes through OpenSSL's AES-256-CBC and HMAC-SHA1 (what the profile does,
 *   without the ciphertext stealing, framing and rotation that are ours).
 *
 * Usage: npm run bench:kerberos (needs MIT Kerberos: bash test/setup/system.sh).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { createInitiator } from "../provider/auth/context";
import { createAcceptor } from "../provider/auth/acceptor-context";
import { userTable } from "../provider/auth/credentials";
import { CfxSession } from "../provider/auth/kerberos/cfx";
import { EncryptionType, KerberosKey } from "../provider/auth/kerberos/crypto";
import { KerberosAcceptor } from "../provider/auth/kerberos/gss-acceptor";
import { KerberosInitiator } from "../provider/auth/kerberos/gss-initiator";
import { KdcClient } from "../provider/auth/kerberos/kdc-client";
import { readKeytab } from "../provider/auth/kerberos/keytab";
import { parseClientPrincipal, servicePrincipal } from "../provider/auth/kerberos/principal";
import { startMitRealm } from "../test/support/mit-kdc";

const HANDSHAKES = 200;
const SIZES = [16 * 1024, 64 * 1024, 256 * 1024];
const VOLUME = 128 * 1024 * 1024;
const REPETITIONS = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function timed(run: () => Promise<void> | void, count: number): Promise<number> {
  for (let n = 0; n < 5; n++) await run(); // warm up
  const samples: number[] = [];
  for (let n = 0; n < count; n++) {
    const start = process.hrtime.bigint();
    await run();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(samples);
}

async function handshakes(): Promise<void> {
  const realm = await startMitRealm({
    realm: "BENCH.TEST",
    users: [{ name: "bench", password: "Bench-Pass-1!" }],
    services: ["HTTP/bench.test"],
  });
  try {
    const keys = readKeytab(realm.keytab("HTTP/bench.test"));
    const kdc = () =>
      new KdcClient({
        client: parseClientPrincipal("bench@BENCH.TEST"),
        kdcs: [{ host: realm.host, port: realm.tcpPort }],
        secret: { password: "Bench-Pass-1!" },
      });
    let ticket = await kdc().getServiceTicket(
      await kdc().getTicketGrantingTicket(),
      servicePrincipal("HTTP/bench.test"),
    );
    const full = await timed(async () => {
      const client = kdc();
      ticket = await client.getServiceTicket(
        await client.getTicketGrantingTicket(),
        servicePrincipal("HTTP/bench.test"),
      );
      const initiator = new KerberosInitiator({ ticket });
      initiator.acceptReply(new KerberosAcceptor({ keys }).accept(initiator.initialToken()));
    }, HANDSHAKES);
    const apOnly = await timed(() => {
      const initiator = new KerberosInitiator({ ticket });
      initiator.acceptReply(new KerberosAcceptor({ keys }).accept(initiator.initialToken()));
    }, HANDSHAKES * 5);
    const users = userTable([{ user: "bench", password: "Bench-Pass-1!" }]);
    const ntlm = await timed(async () => {
      const initiator = createInitiator({
        protocol: "ntlm",
        user: "bench",
        secret: { password: "Bench-Pass-1!" },
      });
      const acceptor = createAcceptor({ credentials: users });
      let token = await initiator.step();
      while (token !== undefined) {
        const reply = await acceptor.step(token);
        token = reply === undefined ? undefined : await initiator.step(reply);
      }
    }, HANDSHAKES * 5);
    console.log(`Handshakes, node ${process.version}, median of ${HANDSHAKES}+ (ms)`);
    console.log(`  Kerberos AS + TGS (MIT KDC, loopback TCP/UDP) + AP:  ${full.toFixed(2)}`);
    console.log(`  Kerberos AP only (ticket kept, each new connection): ${apOnly.toFixed(3)}`);
    console.log(`  NTLM NEGOTIATE + CHALLENGE + AUTHENTICATE:           ${ntlm.toFixed(3)}`);
    console.log(
      `  ratios: first Kerberos connection / NTLM ${(full / ntlm).toFixed(1)}, ` +
        `later Kerberos connections / NTLM ${(apOnly / ntlm).toFixed(2)}`,
    );
  } finally {
    await realm.stop();
  }
}

type RoundTrip = (message: Buffer) => number;

function ours(): RoundTrip {
  const key = new KerberosKey(EncryptionType.AES256_CTS_HMAC_SHA1_96, randomBytes(32));
  const sender = new CfxSession({
    key,
    initiator: true,
    acceptorSubkey: true,
    sendSequence: 0,
    receiveSequence: 0,
  });
  const receiver = new CfxSession({
    key,
    initiator: false,
    acceptorSubkey: true,
    sendSequence: 0,
    receiveSequence: 0,
  });
  return (message) => {
    const { header, data } = sender.wrap(message);
    return receiver.unwrap(header, data).length;
  };
}

/** OpenSSL doing the profile's work: AES-256-CBC over confounder||message||header, HMAC-SHA1. */
function native(): RoundTrip {
  const ke = randomBytes(32);
  const ki = randomBytes(20);
  const iv = Buffer.alloc(16);
  return (message) => {
    const plain = Buffer.concat([randomBytes(16), message, Buffer.alloc(16)]);
    const cipher = createCipheriv("aes-256-cbc", ke, iv).setAutoPadding(false);
    const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
    const mac = createHmac("sha1", ki).update(plain).digest().subarray(0, 12);
    const decipher = createDecipheriv("aes-256-cbc", ke, iv).setAutoPadding(false);
    const opened = Buffer.concat([decipher.update(encrypted), decipher.final()]);
    const check = createHmac("sha1", ki).update(opened).digest().subarray(0, 12);
    if (!check.equals(mac)) throw new Error("mismatch");
    return opened.length - 32;
  };
}

function throughput(make: () => RoundTrip, size: number): number {
  const message = randomBytes(size);
  const count = Math.max(1, Math.floor(VOLUME / size / REPETITIONS));
  let best = 0;
  for (let rep = 0; rep < REPETITIONS; rep++) {
    const roundTrip = make();
    for (let n = 0; n < 8; n++) roundTrip(message);
    const start = process.hrtime.bigint();
    let total = 0;
    for (let n = 0; n < count; n++) total += roundTrip(message);
    best = Math.max(best, total / (Number(process.hrtime.bigint() - start) / 1e9) / 1e6);
  }
  return best;
}

function sealing(): void {
  console.log(`\nAES-256 seal+unseal throughput, best of ${REPETITIONS} (MB/s)`);
  console.log("size      pulumi-winrm CFX   OpenSSL AES-256-CBC + HMAC-SHA1   ratio");
  for (const size of SIZES) {
    // Sizes are multiples of the block, so OpenSSL's CBC needs no padding.
    const mine = throughput(ours, size);
    const theirs = throughput(native, size);
    console.log(
      `${String(size / 1024).padStart(3)} KiB   ${mine.toFixed(1).padStart(16)}   ` +
        `${theirs.toFixed(1).padStart(31)}   ${(mine / theirs).toFixed(2).padStart(5)}`,
    );
  }
}

async function main(): Promise<void> {
  await handshakes();
  sealing();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
