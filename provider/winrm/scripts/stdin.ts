/**
 * Client-side helper for feeding a RemoteInvocation's stdin: the encoder its `stdinEncoding`
 * asks for. (The upload's SHA-256 trailer is appended by RemoteFiles.upload, which needs the
 * digest itself.)
 */
import { Transform, type TransformCallback } from "node:stream";
import { base64Length, writeBase64 } from "../wsman/payloads";
import { BASE64_LINE_MAX, type StdinEncoding } from "./types";

/**
 * Encodes a byte stream as "base64-lines": each output line is the padded base64 of up to
 * `maxLine * 3 / 4` input bytes, ending "\n". Input is regrouped so lines are full-size
 * whatever the chunking of the source.
 */
export function base64Lines(maxLine = BASE64_LINE_MAX): Transform {
  if (!Number.isInteger(maxLine) || maxLine < 4) throw new RangeError("maxLine must be >= 4");
  const lineBytes = Math.floor(maxLine / 4) * 3;
  let pending: Buffer = Buffer.alloc(0);
  const encode = (bytes: Buffer) => Buffer.from(`${bytes.toString("base64")}\n`, "latin1");
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const count = Math.floor(pending.length / lineBytes);
      if (count === 0) return callback();
      // Every full line goes straight into one buffer: no string or buffer per line to copy
      // again (payloads.ts says why strings are written a slice at a time).
      const out = Buffer.allocUnsafe(count * (base64Length(lineBytes) + 1));
      let position = 0;
      for (let line = 0; line < count; line++) {
        const from = line * lineBytes;
        position = writeBase64(pending.subarray(from, from + lineBytes), out, position);
        out[position++] = 0x0a;
      }
      pending = pending.subarray(count * lineBytes);
      callback(null, out);
    },
    flush(callback: TransformCallback) {
      callback(null, pending.length === 0 ? undefined : encode(pending));
    },
  });
}

/** The encoder for `encoding`: a pass-through for "raw". */
export function stdinEncoder(encoding: StdinEncoding): Transform {
  if (encoding === "base64-lines") return base64Lines();
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      callback(null, chunk);
    },
  });
}
