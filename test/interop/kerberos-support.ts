/**
 * What the Kerberos interop tests share: WinRM-layout messages both ways between one of our
 * contexts and an MIT peer, each checked byte for byte.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { WrappedMessage } from "../../provider/auth/context";
import type { GssapiPeer } from "./peers/gssapi-peer";

/** What of ours seals and opens WinRM messages: a SecurityContext or a Kerberos session. */
export interface WinrmSealer {
  wrap(message: Uint8Array): WrappedMessage;
  unwrap(header: Uint8Array, data: Uint8Array): Buffer;
}

/** For each size, a random message from us to MIT and another back; both must arrive intact. */
export async function roundTripWinrm(
  ours: WinrmSealer,
  mit: GssapiPeer,
  sizes: readonly number[],
): Promise<void> {
  for (const size of sizes) {
    const message = randomBytes(size);
    const { header, data } = ours.wrap(message);
    const opened = await mit.unwrapWinrmData(Buffer.concat([header, data]), header.length);
    assert.deepEqual(opened, message, `${size} bytes to MIT`);
    const back = randomBytes(size);
    const sent = await mit.wrapWinrmData(back);
    const unwrapped = ours.unwrap(
      sent.wrapped.subarray(0, sent.headerLength),
      sent.wrapped.subarray(sent.headerLength),
    );
    assert.deepEqual(unwrapped, back, `${size} bytes from MIT`);
  }
}
