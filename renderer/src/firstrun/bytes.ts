// Sizes people read at a glance: GB for a real model, MB or KB for the small files of a mirror,
// a tokenizer or a test — "0.0 GB of 0.0 GB" says nothing.
export function bytesText(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${Math.max(0, Math.round(n / 1024))} KB`;
}
