/** The WS-Management layer: XML, envelopes, faults, and the session that sends them. */
export * from "./envelope";
export * from "./fault";
export * from "./session";
export * from "./xml";
export * from "./payloads";
