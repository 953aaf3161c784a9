/**
 * Password redaction. Every secret parsed from a URL is registered here, and every byte streamctl
 * writes to a terminal, a log or a JSON document passes through `redact`, so a secret cannot leak
 * through a message we did not anticipate (a driver's error text, an echoed URL).
 */
const secrets = new Set<string>();

/** Remembers a secret so that `redact` removes it from any later output. */
export function registerSecret(secret: string | undefined): void {
  // Very short secrets would redact ordinary words; they are still removed from URLs below.
  if (secret && secret.length >= 3) secrets.add(secret);
}

// `user:password@` after any scheme, or at the start of a word (a URL given without scheme). The
// password runs to the last `@` before the host, as URL parsers read an unencoded `@`.
const URL_CREDENTIALS = /(^|[\s,"'(=]|[a-z][a-z0-9+.-]*:\/\/)([^:@/\s,[\]]*):([^\s/]+)@/gi;

/** Replaces the password of a URL (any scheme, or none) with `***`. */
export function redactUrl(url: string): string {
  return url.replace(URL_CREDENTIALS, (_m, lead: string, user: string) => `${lead}${user}:***@`);
}

/** Removes every registered secret and every URL password from `text`. */
export function redact(text: string): string {
  let out = redactUrl(text);
  for (const s of secrets) {
    if (out.includes(s)) out = out.split(s).join('***');
    const encoded = encodeURIComponent(s);
    if (encoded !== s && out.includes(encoded)) out = out.split(encoded).join('***');
  }
  return out;
}
