// Shared by the webviews: a per-page nonce for the Content-Security-Policy.
import { randomBytes } from "crypto";

export function nonce(): string {
  return randomBytes(16).toString("base64").replace(/[^A-Za-z0-9]/g, "");
}
