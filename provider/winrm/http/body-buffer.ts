/**
 * The buffer a connection seals its large request bodies into, kept from one request to the
 * next. A fresh buffer of 700 KB for every Send of an upload costs its page faults when the
 * kernel maps it anew (Node's large buffers come from malloc, which returns freed ones to the
 * system): measured at about 0.3 ms a buffer, several times that while the process is busy.
 *
 * A lent buffer comes back only when the request's reply says the host read the whole body
 * (HTTP 200: WinRM answers after parsing the message); after anything else the socket may still
 * be writing it, so it is dropped and the next request gets a new one.
 */

/** Bodies smaller than this come from Node's pool as usual. */
const REUSE_FROM = 64 * 1024;
/** Buffers grow in steps of this, so that envelopes a few bytes apart share one. */
const STEP = 64 * 1024;

/**
 * For one request at a time (a Connection's queue makes it so): a second take before the
 * first request's giveBack or drop would let that giveBack keep the second's buffer.
 */
export class BodyBuffer {
  private kept: Buffer | undefined;
  private lent: Buffer | undefined;

  /** A buffer of exactly `size` bytes to write a request body into. */
  take(size: number): Buffer {
    if (size < REUSE_FROM) return Buffer.allocUnsafe(size);
    let buffer = this.kept;
    this.kept = undefined;
    if (buffer === undefined || buffer.length < size) {
      buffer = Buffer.allocUnsafeSlow(Math.ceil(size / STEP) * STEP);
    }
    this.lent = buffer;
    return buffer.subarray(0, size);
  }

  /** The request taken for is over and the host read all of it: the buffer may be reused. */
  giveBack(): void {
    if (this.lent !== undefined) this.kept = this.lent;
    this.lent = undefined;
  }

  /** The request may still be being written: never touch its buffer again. */
  drop(): void {
    this.lent = undefined;
  }
}
