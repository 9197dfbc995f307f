/**
 * Large buffers kept from one request to the next: the messages Sends are written into (their
 * stdin as base64, about 500 KB) and the sealed bodies sent on a connection (about 700 KB).
 * A fresh buffer of that size is mapped anew by the kernel on every request (Node's large
 * buffers come from malloc, which returns freed ones to the system) and pressures the garbage
 * collector: an upload of 500 MB wrote 1,300 of each, at about 0.3 ms of page faults apiece,
 * several times that while the process is busy.
 *
 * A buffer may be given back only once nothing can read it any more: after the reply that says
 * the host read the whole request (WinRM answers after parsing the message). After a failure a
 * socket may still be writing it, so the caller simply does not give it back.
 */

/** Buffers grow in steps of this, so that envelopes a few bytes apart share one. */
const STEP = 64 * 1024;

export class ReusableBuffers {
  private readonly kept: ArrayBuffer[] = [];

  /**
   * `keep`: how many buffers to keep, the most requests that hold one at once (a Send on the
   * wire and the next one sealed ahead, on each of a few connections); `reuseFrom`: smaller
   * sizes come from Node's pool as usual and are never kept.
   */
  constructor(
    private readonly keep: number,
    private readonly reuseFrom = STEP,
  ) {}

  /** A buffer of exactly `size` bytes, the start of a kept one when one is large enough. */
  take(size: number): Buffer {
    if (size < this.reuseFrom) return Buffer.allocUnsafe(size);
    const index = this.kept.findIndex((buffer) => buffer.byteLength >= size);
    const memory =
      index >= 0
        ? this.kept.splice(index, 1)[0]!
        : Buffer.allocUnsafeSlow(Math.ceil(size / STEP) * STEP).buffer;
    return Buffer.from(memory, 0, size);
  }

  /** `buffer` (from take) will not be read again: its memory may be lent again. */
  giveBack(buffer: Buffer): void {
    // Small buffers share Node's pool: only whole buffers of our own are kept.
    if (buffer.length < this.reuseFrom || buffer.byteOffset !== 0) return;
    const memory = buffer.buffer as ArrayBuffer;
    if (this.kept.includes(memory)) return;
    if (this.kept.length < this.keep) {
      this.kept.push(memory);
      return;
    }
    // Full: a larger buffer takes the smallest one's place, so that the sizes in use now fit.
    let smallest = 0;
    this.kept.forEach((kept, index) => {
      if (kept.byteLength < this.kept[smallest]!.byteLength) smallest = index;
    });
    if (this.kept[smallest]!.byteLength < memory.byteLength) this.kept[smallest] = memory;
  }
}
