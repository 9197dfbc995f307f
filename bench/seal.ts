/**
 * Seal + unseal throughput of NtlmSession against the same work done by OpenSSL's native RC4
 * and HMAC-MD5, measured in the same run.
 *
 * OpenSSL 3 only offers RC4 from its legacy provider, which Node loads with
 * --openssl-legacy-provider; the native figure therefore comes from a child node process
 * started with that flag, running this file with --native. Usage: npm run bench:seal
 */
import { spawnSync } from "node:child_process";
import { createCipheriv, createHmac, randomBytes } from "node:crypto";
import { NtlmSession } from "../provider/auth/ntlm/security";

const SIZES = [16 * 1024, 64 * 1024, 256 * 1024];
/** Bytes of message to push through seal + unseal per size and per repetition. */
const VOLUME = 256 * 1024 * 1024;
const REPETITIONS = 5;
const GOAL = 0.6;

type Result = Record<number, number>;

/** One seal + unseal of `message` per call; returns the recovered length to keep work live. */
type RoundTrip = (message: Buffer) => number;

function ours(): RoundTrip {
  const key = randomBytes(16);
  const flags = 0xe2888235;
  const client = new NtlmSession(key, flags, "initiator");
  const server = new NtlmSession(key, flags, "acceptor");
  return (message) => {
    const { signature, sealed } = client.seal(message);
    return server.unseal(sealed, signature).length;
  };
}

/** The same operations as MS-NLMP 3.4.3 with OpenSSL's RC4 and HMAC-MD5 doing the work. */
function native(): RoundTrip {
  const sealKey = randomBytes(16);
  const signKey = randomBytes(16);
  const out = createCipheriv("rc4", sealKey, null);
  const into = createCipheriv("rc4", sealKey, null);
  let sequence = 0;
  const mac = (cipher: ReturnType<typeof createCipheriv>, message: Buffer): Buffer => {
    const seq = Buffer.alloc(4);
    seq.writeUInt32LE(sequence, 0);
    const digest = createHmac("md5", signKey).update(seq).update(message).digest();
    return Buffer.concat([Buffer.from([1, 0, 0, 0]), cipher.update(digest.subarray(0, 8)), seq]);
  };
  return (message) => {
    const sealed = out.update(message);
    const signature = mac(out, message);
    const plain = into.update(sealed);
    const expected = mac(into, plain);
    if (!expected.subarray(4, 12).equals(signature.subarray(4, 12))) throw new Error("mismatch");
    sequence++;
    return plain.length;
  };
}

function measure(make: () => RoundTrip): Result {
  const result: Result = {};
  for (const size of SIZES) {
    const message = randomBytes(size);
    const count = Math.max(1, Math.floor(VOLUME / size / REPETITIONS));
    let best = 0;
    for (let rep = 0; rep < REPETITIONS; rep++) {
      const roundTrip = make();
      for (let n = 0; n < 8; n++) roundTrip(message); // warm up the JIT
      const start = process.hrtime.bigint();
      let total = 0;
      for (let n = 0; n < count; n++) total += roundTrip(message);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      best = Math.max(best, total / seconds / 1e6);
    }
    result[size] = best;
  }
  return result;
}

function main(): void {
  if (process.argv.includes("--native")) {
    process.stdout.write(JSON.stringify(measure(native)));
    return;
  }
  const child = spawnSync(process.execPath, ["--openssl-legacy-provider", __filename, "--native"], {
    encoding: "utf8",
  });
  if (child.status !== 0) {
    throw new Error(`the native measurement failed: ${child.stderr || child.error?.message}`);
  }
  const nativeResult = JSON.parse(child.stdout) as Result;
  const ourResult = measure(ours);
  console.log(`NTLM seal+unseal throughput, node ${process.version}, best of ${REPETITIONS}`);
  console.log("size      pulumi-winrm MB/s   OpenSSL RC4+HMAC-MD5 MB/s   ratio   goal >= 0.60");
  let allMet = true;
  for (const size of SIZES) {
    const ratio = ourResult[size]! / nativeResult[size]!;
    allMet &&= ratio >= GOAL;
    console.log(
      `${String(size / 1024).padStart(3)} KiB   ${ourResult[size]!.toFixed(1).padStart(17)}   ` +
        `${nativeResult[size]!.toFixed(1).padStart(25)}   ${ratio.toFixed(2).padStart(5)}   ` +
        (ratio >= GOAL ? "met" : "NOT met"),
    );
  }
  console.log(allMet ? "all goals met" : "some goals not met");
}

main();
