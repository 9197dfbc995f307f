// pywinrm 0.5 (requests_ntlm + pyspnego), which this project did not write, against the
// loopback host: the host must serve a real WinRM client the way a Windows host does.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Host, LogKind, startHost } from "../host";
import { peerSkipReason } from "./peers/pyspnego-peer";
import { decoded, runPywinrm, type PywinrmSpec } from "./peers/pywinrm-peer";

const skip = peerSkipReason();

function spec(host: Host, rest: Partial<PywinrmSpec> & Pick<PywinrmSpec, "ops">): PywinrmSpec {
  return {
    endpoint: host.url,
    user: host.user,
    password: host.password,
    transport: "ntlm",
    message_encryption: "always",
    ...rest,
  };
}

describe("pywinrm over HTTP with NTLM and message encryption", { skip }, () => {
  let host: Host;
  before(async () => {
    host = await startHost();
  });
  after(() => host.close());

  test("stdout, stderr, exit codes, stdin and environment, all on one sealed connection", async () => {
    host.log.clear();
    const stdin = "line one\nline two\n";
    const [echo, failing, piped, env] = await runPywinrm(
      spec(host, {
        ops: [
          { op: "run", command: "echo", args: ["hello", "from", "pywinrm"] },
          { op: "run", command: "echo to-stderr >&2; exit 7" },
          {
            op: "run",
            command: "tr a-z A-Z",
            stdin_b64: Buffer.from(stdin).toString("base64"),
          },
          {
            op: "run",
            command: 'printf %s "$GREETING" && pwd',
            env: { GREETING: "hi" },
            cwd: "/tmp",
          },
        ],
      }),
    );
    assert.equal(echo?.ok, true, JSON.stringify(echo));
    assert.equal(decoded(echo, "stdout"), "hello from pywinrm\n");
    assert.equal(decoded(echo, "stderr"), "");
    assert.equal(echo?.exit_code, 0);
    assert.equal(failing?.ok, true, JSON.stringify(failing));
    assert.equal(decoded(failing, "stderr"), "to-stderr\n");
    assert.equal(failing?.exit_code, 7);
    assert.equal(decoded(piped!, "stdout"), stdin.toUpperCase());
    assert.equal(piped?.exit_code, 0);
    assert.equal(decoded(env!, "stdout"), "hi/tmp\n");

    const counters = host.log.counters;
    assert.equal(counters.authentications, 1, "one handshake for the whole session");
    assert.equal(counters.plaintextMessages, 0, "every message was sealed");
    assert.ok(counters.sealedMessages >= 4 * 5, `${counters.sealedMessages} sealed messages`);
    assert.equal(counters.commandsRun, 4);
    const exits = host.log.entries(LogKind.COMMAND_EXITED).map((entry) => entry.exitCode);
    assert.deepEqual(exits.sort(), [0, 0, 0, 7]);
    const started = host.log.entries(LogKind.COMMAND_STARTED);
    assert.equal(started[0]?.commandLine, "echo hello from pywinrm");
    assert.equal(started[0]?.user, host.user);
  });

  test("5 MB of output arrives intact in envelopes no larger than pywinrm's MaxEnvelopeSize", async () => {
    host.log.clear();
    // 5 MiB of varied bytes: head -c from a deterministic generator.
    const [result] = await runPywinrm(
      spec(host, {
        ops: [
          { op: "sink", command: "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 5242880" },
        ],
      }),
    );
    assert.equal(result?.ok, true, JSON.stringify(result));
    assert.equal(result?.stdout_bytes, 5 * 1024 * 1024);
    assert.equal(result?.exit_code, 0);
    const line = Buffer.from("0123456789abcdefghijklmnopqrstuvwxyz\n");
    const all = Buffer.alloc(5 * 1024 * 1024);
    for (let at = 0; at < all.length; at += line.length) line.copy(all, at);
    const expected = createHash("sha256").update(all).digest("hex");
    assert.equal(result?.stdout_sha256, expected);
    // pywinrm asks for MaxEnvelopeSize 153600; every Receive response must respect it.
    assert.ok(result.largest_response! <= 153600, `largest response ${result?.largest_response}`);
    assert.ok(result.receives! >= (5 * 1024 * 1024) / 153600, "output was split across responses");
    assert.ok(host.log.counters.largestResponseEnvelope <= 153600);
  });

  test("non-ASCII text passes through unchanged with codepage 65001", async () => {
    const text = "Grüße, Ελληνικά, 日本語, emoji 🚀";
    const [result] = await runPywinrm(
      spec(host, {
        ops: [
          {
            op: "run",
            command: "cat; printf '%s' \"$WORD\" >&2",
            env: { WORD: "naïve café" },
            stdin_b64: Buffer.from(text).toString("base64"),
            codepage: 65001,
          },
        ],
      }),
    );
    assert.equal(result?.ok, true, JSON.stringify(result));
    assert.equal(decoded(result, "stdout"), text);
    assert.equal(decoded(result, "stderr"), "naïve café");
  });

  test("pyspnego's initiator and the host's acceptor keep sealing in step for 100+ requests", async () => {
    host.log.clear();
    const [result] = await runPywinrm(spec(host, { ops: [{ op: "repeat", count: 34 }] }));
    assert.equal(result?.ok, true, JSON.stringify(result));
    assert.ok(result.requests! >= 100, `${result?.requests} requests`);
    assert.equal(host.log.counters.authentications, 1);
    assert.equal(host.log.counters.connections, 1, "one TCP connection, one security context");
    assert.equal(host.log.counters.sealedMessages, result?.requests);
    assert.equal(host.log.counters.requestsRefused, 0);
  });

  test("is refused with a wrong password", async () => {
    host.log.clear();
    const [result] = await runPywinrm({
      ...spec(host, { ops: [{ op: "run", command: "echo never" }] }),
      password: "not-the-password",
    });
    assert.equal(result?.ok, false);
    assert.equal(result?.error, "InvalidCredentialsError");
    assert.equal(host.log.counters.commandsRun, 0);
    assert.ok(host.log.counters.authenticationFailures >= 1);
  });

  test("is refused when it sends plaintext: NTLM without message encryption", async () => {
    host.log.clear();
    const [result] = await runPywinrm(
      spec(host, { message_encryption: "never", ops: [{ op: "run", command: "echo never" }] }),
    );
    assert.equal(result?.ok, false, JSON.stringify(result));
    // Windows answers the plaintext body that arrives with the NTLM AUTHENTICATE with 401.
    assert.equal(result?.error, "InvalidCredentialsError");
    assert.equal(host.log.counters.commandsRun, 0);
    assert.equal(host.log.counters.shellsCreated, 0);
    assert.ok(
      host.log
        .entries(LogKind.REQUEST_REFUSED)
        .some((entry) => /plaintext/.test(entry.detail ?? "")),
    );
  });

  test("is refused when it sends plaintext: Basic over HTTP (Basic disabled, AllowUnencrypted off)", async () => {
    host.log.clear();
    const [result] = await runPywinrm(
      spec(host, {
        transport: "plaintext",
        message_encryption: "never",
        ops: [{ op: "run", command: "echo never" }],
      }),
    );
    assert.equal(result?.ok, false);
    assert.equal(result?.error, "InvalidCredentialsError");
    assert.equal(host.log.counters.shellsCreated, 0);
  });
});

describe("pywinrm over HTTP against a host with Basic and AllowUnencrypted on", { skip }, () => {
  test("runs a command with Basic in plaintext, as Windows allows only when both are set", async () => {
    const host = await startHost({ basic: true, allowUnencrypted: true });
    try {
      const [result] = await runPywinrm(
        spec(host, {
          transport: "basic",
          message_encryption: "never",
          ops: [{ op: "run", command: "echo", args: ["basic"] }],
        }),
      );
      assert.equal(result?.ok, true, JSON.stringify(result));
      assert.equal(decoded(result, "stdout"), "basic\n");
      assert.equal(host.log.entries(LogKind.AUTHENTICATED)[0]?.detail, "Basic");
    } finally {
      await host.close();
    }
  });
});

describe("pywinrm over HTTPS", { skip }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "pulumi-winrm-pywinrm-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const keyType of ["rsa", "ec"] as const) {
    test(`NTLM with channel binding under CbtHardeningLevel Strict (${keyType} certificate)`, async () => {
      const host = await startHost({ https: keyType, cbtHardeningLevel: "strict" });
      try {
        const ca = join(dir, `ca-${keyType}.pem`);
        writeFileSync(ca, host.caCertificatePem!);
        const [withCbt, withoutCbt] = [
          ...(await runPywinrm(
            spec(host, {
              message_encryption: "auto",
              ca_trust_path: ca,
              ops: [{ op: "run", command: "echo", args: ["bound"] }],
            }),
          )),
          ...(await runPywinrm(
            spec(host, {
              message_encryption: "auto",
              ca_trust_path: ca,
              send_cbt: false,
              ops: [{ op: "run", command: "echo", args: ["unbound"] }],
            }),
          )),
        ];
        // On failure, say what the host saw: a read timeout alone does not tell which side stalled.
        const seen = () =>
          `${JSON.stringify(withCbt)}\nhost counters: ${JSON.stringify(host.log.counters)}\n` +
          `host log: ${JSON.stringify(host.log.entries())}`;
        assert.equal(withCbt?.ok, true, seen());
        assert.equal(decoded(withCbt, "stdout"), "bound\n");
        // Strict: a client that sends no channel binding is refused.
        assert.equal(withoutCbt?.ok, false);
        assert.equal(withoutCbt?.error, "InvalidCredentialsError");
        assert.match(
          host.log.entries(LogKind.AUTHENTICATION_FAILED)[0]?.detail ?? "",
          /channel binding/,
        );
      } finally {
        await host.close();
      }
    });
  }

  test("Basic over HTTPS when Basic is enabled, and refused when it is not", async () => {
    const enabled = await startHost({ https: "rsa", basic: true });
    const disabled = await startHost({ https: "rsa" });
    try {
      const results = [];
      for (const host of [enabled, disabled]) {
        const ca = join(dir, `ca-basic-${host.port}.pem`);
        writeFileSync(ca, host.caCertificatePem!);
        const [result] = await runPywinrm(
          spec(host, {
            transport: "ssl",
            message_encryption: "auto",
            ca_trust_path: ca,
            ops: [{ op: "run", command: "echo", args: ["over", "tls"] }],
          }),
        );
        results.push(result);
      }
      assert.equal(results[0]?.ok, true, JSON.stringify(results[0]));
      assert.equal(decoded(results[0], "stdout"), "over tls\n");
      assert.equal(results[1]?.ok, false);
      assert.equal(results[1]?.error, "InvalidCredentialsError");
    } finally {
      await Promise.all([enabled.close(), disabled.close()]);
    }
  });
});

/**
 * INTEROP_STREAM_MB (default 200): how much output the streaming test sends. More than the
 * 100 MB of growth it allows, so that a host holding the output fails it.
 */
const STREAM_MB = Math.max(128, Number(process.env.INTEROP_STREAM_MB) || 200);

describe("memory stays bounded while streaming a large output", { skip }, () => {
  test(`${STREAM_MB} MB of output goes through Receive responses within MaxEnvelopeSize; the host's heap does not grow with it`, async () => {
    const host = await startHost();
    const size = STREAM_MB * 1024 * 1024;
    // Buffers live outside the V8 heap (`external`), so the host's memory is heap + external.
    const used = (usage: NodeJS.MemoryUsage) => usage.heapUsed + usage.external;
    const before = process.memoryUsage();
    let peakHeap = used(before);
    let peakRss = before.rss;
    const sampler = setInterval(() => {
      const now = process.memoryUsage();
      peakHeap = Math.max(peakHeap, used(now));
      peakRss = Math.max(peakRss, now.rss);
    }, 10);
    const started = Date.now();
    try {
      const [result] = await runPywinrm(
        spec(host, { ops: [{ op: "sink", command: `head -c ${size} /dev/zero | tr '\\0' 'z'` }] }),
        300_000,
      );
      assert.equal(result?.ok, true, JSON.stringify(result));
      assert.equal(result?.stdout_bytes, size);
      assert.equal(result?.exit_code, 0);
      assert.ok(result.largest_response! <= 153600, `largest response ${result?.largest_response}`);
      const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
      const growth = peakHeap - used(before);
      console.log(
        `# ${STREAM_MB} MB streamed in ${Date.now() - started} ms over ${result?.receives} Receive responses ` +
          `(largest envelope ${result?.largest_response} bytes); host heap+external ${mb(used(before))} MB ` +
          `-> peak ${mb(peakHeap)} MB (growth ${mb(growth)} MB), RSS ${mb(before.rss)} -> peak ${mb(peakRss)} MB`,
      );
      // A host that buffered the output would grow by all of it or more; allow generous slack.
      assert.ok(growth < 100 * 1024 * 1024, `heap+external grew by ${mb(growth)} MB`);
    } finally {
      clearInterval(sampler);
      await host.close();
    }
  });
});
