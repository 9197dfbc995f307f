/**
 * Mutation fuzzing of every decoder and of both state machines: bit flips, truncations,
 * extensions, byte insertions and deletions, and length or offset fields set to boundary
 * values. The only acceptable outcomes are success or one of our typed errors, never an error
 * that merely wraps a TypeError or RangeError from deep inside.
 *
 * FUZZ_ITERATIONS (default 100000) mutations go to each target; FUZZ_SEED reproduces a run.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FUZZ_ITERATIONS, FUZZ_SEED, generator } from "../../support/fuzz";
import { createInitiator } from "../../../provider/auth/context";
import { createAcceptor } from "../../../provider/auth/acceptor-context";
import { endPointHashAlgorithm } from "../../../provider/auth/channel-bindings";
import { userTable } from "../../../provider/auth/credentials";
import { NtlmAcceptor, NtlmInitiator } from "../../../provider/auth/ntlm/context";
import {
  decodeAuthenticateMessage,
  decodeAvPairs,
  decodeChallengeMessage,
  decodeNegotiateMessage,
} from "../../../provider/auth/ntlm/messages";
import { decodeNegotiationToken, SpnegoInitiator } from "../../../provider/auth/spnego";
import { SpnegoAcceptor } from "../../../provider/auth/spnego-acceptor";
import { AuthenticationError, ProtocolError } from "../../../provider/errors";
import { selfSignedCertificate } from "../../support/certificates";
import { NTLMV2 } from "../../vectors/ms-nlmp";

const USERS = userTable([{ user: "bob", password: "hunter2" }]);

const BOUNDARY_VALUES = [
  0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0xffffffff,
];

function mutate(input: Buffer, random: (limit: number) => number): Buffer {
  let data = Buffer.from(input);
  const rounds = 1 + random(3);
  for (let round = 0; round < rounds; round++) {
    const at = data.length === 0 ? 0 : random(data.length);
    switch (random(7)) {
      case 0: // flip a few bits
        for (let n = 1 + random(8); n > 0 && data.length > 0; n--) {
          const index = random(data.length);
          data[index] = data[index]! ^ (1 << random(8));
        }
        break;
      case 1: // truncate
        data = data.subarray(0, random(data.length + 1));
        break;
      case 2: // extend with random bytes
        data = Buffer.concat([
          data,
          Buffer.from(Array.from({ length: 1 + random(64) }, () => random(256))),
        ]);
        break;
      case 3: // overwrite a 16-bit length with a boundary value
        if (at + 2 <= data.length)
          data.writeUInt16LE(BOUNDARY_VALUES[random(BOUNDARY_VALUES.length)]! & 0xffff, at);
        break;
      case 4: // overwrite a 32-bit offset with a boundary value
        if (at + 4 <= data.length)
          data.writeUInt32LE(BOUNDARY_VALUES[random(BOUNDARY_VALUES.length)]! >>> 0, at);
        break;
      case 5: // insert bytes
        data = Buffer.concat([
          data.subarray(0, at),
          Buffer.from([random(256), random(256)]),
          data.subarray(at),
        ]);
        break;
      default: // delete bytes
        data = Buffer.concat([data.subarray(0, at), data.subarray(at + 1 + random(4))]);
        break;
    }
  }
  return data;
}

/** Fails the test unless `error` is one of ours and wraps no runtime error. */
function assertTyped(error: unknown, allowAuthentication: boolean, input: Buffer): void {
  const typed =
    error instanceof ProtocolError || (allowAuthentication && error instanceof AuthenticationError);
  if (!typed || (error as Error).cause !== undefined) {
    assert.fail(
      `untyped failure for input ${input.toString("hex")} (seed ${FUZZ_SEED}): ${String(error)}` +
        ((error as Error).cause ? ` caused by ${String((error as Error).cause)}` : ""),
    );
  }
}

function fuzz(
  seeds: Buffer[],
  target: (input: Buffer) => unknown,
  allowAuthentication = false,
): number {
  const random = generator(FUZZ_SEED);
  let rejected = 0;
  for (let n = 0; n < FUZZ_ITERATIONS; n++) {
    const input = mutate(seeds[n % seeds.length]!, random);
    try {
      target(input);
    } catch (error) {
      assertTyped(error, allowAuthentication, input);
      rejected++;
    }
  }
  return rejected;
}

/** Real tokens from a real exchange, to mutate. */
function corpus() {
  const initiator = new NtlmInitiator({
    user: "bob",
    secret: { password: "hunter2" },
    targetName: "HTTP/host",
  });
  const acceptor = new NtlmAcceptor({ credentials: USERS });
  const negotiate = initiator.step();
  const challenge = acceptor.step(negotiate)!;
  const authenticate = initiator.step(challenge);
  return { negotiate, challenge, authenticate };
}

describe(
  `fuzzing with ${FUZZ_ITERATIONS} mutations per target (FUZZ_SEED=${FUZZ_SEED})`,
  { timeout: 600_000 },
  () => {
    const tokens = corpus();

    test("NEGOTIATE_MESSAGE decoder", () => {
      const rejected = fuzz([tokens.negotiate], decodeNegotiateMessage);
      assert.ok(rejected > 0, "mutations must reach the error paths");
    });

    test("CHALLENGE_MESSAGE decoder", () => {
      assert.ok(fuzz([tokens.challenge, NTLMV2.challengeMessage], decodeChallengeMessage) > 0);
    });

    test("AUTHENTICATE_MESSAGE decoder", () => {
      assert.ok(
        fuzz([tokens.authenticate, NTLMV2.authenticateMessage], decodeAuthenticateMessage) > 0,
      );
    });

    test("AV_PAIR list decoder", () => {
      assert.ok(fuzz([NTLMV2.avPairs], (input) => decodeAvPairs(input)) > 0);
    });

    test("SPNEGO NegotiationToken decoder", async () => {
      const initiator = createInitiator({ user: "bob", secret: { password: "hunter2" } });
      const acceptor = createAcceptor({ credentials: USERS });
      const init = (await initiator.step())!;
      const resp = (await acceptor.step(init))!;
      const final = (await initiator.step(resp))!;
      const done = (await acceptor.step(final))!;
      assert.ok(fuzz([init, resp, final, done], decodeNegotiationToken) > 0);
    });

    test("certificate signature algorithm reader", () => {
      const seeds = [selfSignedCertificate("rsa", "sha256"), selfSignedCertificate("ec", "sha384")];
      assert.ok(fuzz(seeds, endPointHashAlgorithm) > 0);
    });

    test("NTLM acceptor: mutated NEGOTIATE and AUTHENTICATE messages", () => {
      fuzz(
        [tokens.negotiate],
        (input) => new NtlmAcceptor({ credentials: USERS }).step(input),
        true,
      );
      let accepted = 0;
      const rejected = fuzz(
        [tokens.authenticate],
        (input) => {
          const initiator = new NtlmInitiator({ user: "bob", secret: { password: "hunter2" } });
          const acceptor = new NtlmAcceptor({ credentials: USERS });
          initiator.step(acceptor.step(initiator.step()));
          // The mutation is applied to a token from another exchange: it must never verify.
          acceptor.step(input);
          accepted++;
        },
        true,
      );
      assert.equal(accepted, 0);
      assert.equal(rejected, FUZZ_ITERATIONS);
    });

    test("SPNEGO acceptor: mutated NegTokenInit and NegTokenResp", () => {
      const spnegoInitiator = () =>
        new SpnegoInitiator(new NtlmInitiator({ user: "bob", secret: { password: "hunter2" } }));
      fuzz(
        [spnegoInitiator().step()!],
        (input) => new SpnegoAcceptor({ credentials: USERS }).step(input),
        true,
      );
      let accepted = 0;
      const reference = spnegoInitiator();
      const referenceFinal = reference.step(
        new SpnegoAcceptor({ credentials: USERS }).step(reference.step()!),
      )!;
      fuzz(
        [referenceFinal],
        (input) => {
          const initiator = spnegoInitiator();
          const acceptor = new SpnegoAcceptor({ credentials: USERS });
          initiator.step(acceptor.step(initiator.step()!));
          acceptor.step(input);
          accepted++;
        },
        true,
      );
      assert.equal(accepted, 0);
    });

    test("NTLM initiator: mutated CHALLENGE messages", () => {
      fuzz(
        [tokens.challenge, NTLMV2.challengeMessage],
        (input) => {
          const initiator = new NtlmInitiator({ user: "bob", secret: { password: "hunter2" } });
          initiator.step();
          initiator.step(input);
        },
        true,
      );
    });
  },
);
