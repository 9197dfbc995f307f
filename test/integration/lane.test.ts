/**
 * An input's Sends in a lane (provider/winrm/http/lane.ts) against the loopback host: each is
 * sealed while the one before it is on the wire, they reach the command in order and whole, and
 * a Send sealed ahead that never went (the one before it failed) costs the connection a new
 * handshake, not its next request.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { IntegrityError } from "../../provider/errors";
import type { WinRMClient } from "../../provider/winrm/client";
import { type Host, startHost } from "../host";
import { LogKind } from "../host/log";
import { clientFor } from "./support";

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

describe("an input's Sends in a lane, sealed ahead (NTLM over HTTP)", () => {
  let host: Host;
  let client: WinRMClient;
  let dir: string;
  before(async () => {
    host = await startHost();
    client = clientFor(host);
    dir = mkdtempSync(join(tmpdir(), "pulumi-winrm-lane-"));
  });
  after(async () => {
    await client.close();
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("an upload of many Sends arrives whole, most of them sealed ahead", async () => {
    const content = randomBytes(6 * 1024 * 1024 + 17);
    const destination = join(dir, "ahead.bin");
    const files = await client.files();
    const before = client.sentSealedAhead;
    const sends = Math.ceil(content.length / client.stdinChunkBytes);
    const result = await files.upload(content, destination);
    assert.equal(result.sha256, sha256(content));
    assert.deepEqual(readFileSync(destination), content, "every byte, in order");
    const ahead = client.sentSealedAhead - before;
    // The first Send of the input and the hash trailer's may go sealed at their turn; the
    // rest were sealed while the one before them was on the wire.
    assert.ok(sends > 10, `the upload took ${sends} Sends`);
    assert.ok(ahead >= sends - 3, `${ahead} of ${sends} Sends were sealed ahead`);
  });

  test("a Send behind a refused one is never sent: the input stops where the host refused it", async () => {
    const chunk = client.stdinChunkBytes;
    const content = randomBytes(12 * chunk);
    await client.run("true", [], {}); // the shell exists: what follows is Command, then Sends
    host.faults.delayResponses(40);
    host.faults.respondWithFault(4, {
      code: 2150858843,
      subcode: "w:InternalError",
      message: "the Send was refused (injected)",
    });
    let result;
    try {
      result = await client.run("wc", ["-c"], { stdin: content, inputBeforeOutput: true });
    } finally {
      host.faults.reset();
    }
    // The command saw its input end after the Sends the host took, with no gap: the two
    // before the refused one (the fourth message: Command, Send, Send, Send), none after it.
    const received = Number(result.stdout.toString("utf8").trim());
    assert.equal(received, 2 * chunk, "the bytes of the two Sends before the refused one");
  });

  test("after a Send fails with one sealed behind it, the connection authenticates again and goes on", async () => {
    const content = randomBytes(4 * 1024 * 1024);
    const destination = join(dir, "failed.bin");
    const files = await client.files();
    // The client's connection is authenticated already; the fifth message from now is a Send
    // in the middle of the upload (Command, then Sends), and the one after it is sealed.
    const handshakes = host.log.counters.authentications;
    host.faults.respondWithFault(5, {
      code: 2150858843,
      subcode: "w:InternalError",
      message: "the Send was refused (injected)",
    });
    // Answers that take a moment leave no doubt that the next Send is sealed by then.
    host.faults.delayResponses(40);
    // The command's input then has a gap: the host's check of the content says so.
    try {
      await assert.rejects(files.upload(content, destination), IntegrityError);
    } finally {
      host.faults.delayResponses(0);
    }
    // The Send sealed behind the failed one took a sequence number the host never saw: the
    // next request on that connection needs a new context, and gets one. Commands run one
    // after another take the first idle connection: the lane's.
    for (const word of ["still", "here"]) {
      const echoed = await client.run("echo", [word], {});
      assert.equal(echoed.exitCode, 0);
      assert.equal(echoed.stdout.toString("utf8").trim(), word);
    }
    const refused = host.log
      .entries(LogKind.REQUEST_REFUSED)
      .filter((entry) => /sealed message rejected/.test(entry.detail ?? ""));
    assert.deepEqual(refused, [], "no message reached the host sealed out of step");
    assert.ok(
      host.log.counters.authentications > handshakes,
      "the connection authenticated again instead",
    );
    assert.throws(() => readFileSync(destination), /ENOENT/, "no partial file at the destination");
  });
});
