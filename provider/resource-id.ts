/**
 * The ids of new resources: 128 random bits in base64url, 22 characters. The engine stores a
 * resource's id with every copy of its state, and a UUID's 36 characters cost 14 bytes more
 * per resource for the same randomness (issue 19). Ids are opaque: resources created with a
 * UUID keep it.
 */
import { randomBytes } from "node:crypto";

export function newResourceId(): string {
  return randomBytes(16).toString("base64url");
}
