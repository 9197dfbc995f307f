/**
 * Messages in the Pulumi output, attributed to the resource that printed them.
 *
 * The dynamic provider host hands the lifecycle functions no URN, and what the provider writes
 * to stderr the engine shows under the stack. But the host is started with the engine's
 * address as its one argument (`pulumi-resource-pulumi-nodejs <engine>`), and the engine's
 * `Log` RPC takes a URN: the SDK passes the resource's URN as the input `__urn` (the engine's
 * display leaves out names that begin with "__"), and the messages go to the engine with it.
 *
 * Where there is no engine to talk to (the CLI, tests, a resource of an older SDK without the
 * URN) or a message cannot be delivered, it goes to stderr as before: nothing is lost.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
import { createRequire } from "node:module";

/** What the generated gRPC client of pulumirpc.Engine offers that is used here. */
interface EngineClient {
  log(request: unknown, done: (error: Error | null) => void): void;
}

interface LogRequest {
  setSeverity(severity: number): LogRequest;
  setMessage(message: string): LogRequest;
  setUrn(urn: string): LogRequest;
}

interface EngineModules {
  client: EngineClient;
  newRequest: () => LogRequest;
}

/** pulumirpc.LogSeverity.INFO (proto/engine.proto). */
const INFO = 1;
/** The script the dynamic provider host runs: only there is the first argument the engine's. */
const DYNAMIC_PROVIDER_SCRIPT = /[\\/]dynamic-provider[\\/]index\.js$/;

let engine: EngineModules | null | undefined;

/** The engine's Log client, once; null when this process is not the dynamic provider host. */
function engineLog(): EngineModules | null {
  if (engine !== undefined) return engine;
  engine = null;
  const [, script, address] = process.argv;
  if (!script || !DYNAMIC_PROVIDER_SCRIPT.test(script) || !address || !/:\d+$/.test(address)) {
    return engine;
  }
  try {
    // The Pulumi SDK's own gRPC stubs, and the @grpc/grpc-js they were built with.
    const stubsPath = require.resolve("@pulumi/pulumi/proto/engine_grpc_pb");
    const stubs = require(stubsPath) as {
      EngineClient: new (address: string, credentials: unknown) => EngineClient;
    };
    const messages = require("@pulumi/pulumi/proto/engine_pb") as {
      LogRequest: new () => LogRequest;
    };
    const grpc = createRequire(stubsPath)("@grpc/grpc-js") as {
      credentials: { createInsecure(): unknown };
    };
    engine = {
      client: new stubs.EngineClient(address, grpc.credentials.createInsecure()),
      newRequest: () => new messages.LogRequest(),
    };
  } catch {
    engine = null;
  }
  return engine;
}

/**
 * One resource's lines in the Pulumi output. Text may arrive in any pieces, on several streams
 * (a command's stdout and stderr): whole lines are sent as they complete, in order, a stream's
 * unfinished line waits for its end, and `flush` sends the rest and waits for delivery.
 */
export class ResourceLog {
  private readonly pending = new Map<string, string>();
  private delivered: Promise<void> = Promise.resolve();

  constructor(private readonly urn: string | undefined) {}

  /** Appends text to a stream; its complete lines go out now. */
  write(text: string, stream = "out"): void {
    const lines = ((this.pending.get(stream) ?? "") + text).split("\n");
    this.pending.set(stream, lines.pop()!);
    if (lines.length > 0) this.send(lines.join("\n"));
  }

  /** Sends every unfinished line and resolves when every message is delivered. */
  async flush(): Promise<void> {
    for (const rest of this.pending.values()) if (rest !== "") this.send(rest);
    this.pending.clear();
    await this.delivered;
  }

  private send(message: string): void {
    const target = this.urn === undefined ? null : engineLog();
    if (target === null) {
      process.stderr.write(`${message}\n`);
      return;
    }
    const request = target.newRequest().setSeverity(INFO).setMessage(message).setUrn(this.urn!);
    this.delivered = this.delivered.then(
      () =>
        new Promise<void>((resolve) =>
          target.client.log(request, (error) => {
            if (error) process.stderr.write(`${message}\n`);
            resolve();
          }),
        ),
    );
  }
}

/** The input under which the SDK passes the resource's URN; kept in the outputs for delete. */
export const URN_INPUT = "__urn";

/** The resource's URN among its inputs or outputs, when the SDK passed one. */
export function urnOf(props: Record<string, unknown>): Record<string, string> {
  const urn = props[URN_INPUT];
  return typeof urn === "string" ? { [URN_INPUT]: urn } : {};
}

/** A log for the resource whose inputs or outputs are `props`. */
export function resourceLog(props: Record<string, unknown>): ResourceLog {
  return new ResourceLog(urnOf(props)[URN_INPUT]);
}
