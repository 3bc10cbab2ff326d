// The gallery's window onto the catalog: keyset pages fetched on demand and kept in a small cache,
// so a library of a million images never sits in memory. Page k is asked for with the cursor that
// page k-1 returned; evicted pages keep their cursor, so coming back costs one request. A jump
// farther than a few pages past the last known cursor (the scroll bar dragged to 70 %) asks for the
// page at its row number instead (`fetchAt`, the catalog's `at`), one request rather than a walk of
// hundreds, and the cursors continue from the page it brings.
// When the library changes under the same query, the new pager starts from the old one's pages,
// marked stale: the grid keeps showing (and the keyboard keeps acting on) what the user sees
// until the fresh page replaces it, instead of blanking every cell for a round trip.

export interface PageOf<T> {
  items: T[];
  nextCursor: string | null;
}

/** Pages one request brings while walking: 5 × 200 = the catalog's largest page (1000). */
const HOP = 5;
/**
 * Before fetching a page only asked for ahead of the screen, the pager waits this long, so the
 * requests of what is on screen (the thumbnails it just rendered) reach the studio first.
 */
const AHEAD_PAUSE_MS = 50;

export type FetchPage<T> = (cursor: string | undefined, limit: number) => Promise<PageOf<T>>;
/** The page of `limit` rows starting at row number `at`. */
export type FetchAt<T> = (at: number, limit: number) => Promise<PageOf<T>>;

export interface PagerOptions<T> {
  pageSize?: number;
  /** Pages kept in memory; the ones farthest from the last request go first. */
  maxPages?: number;
  /** The pager this one replaces for the same query: its pages are shown until reloaded. */
  previous?: Pager<T>;
  /** Jumps by row number; without it a far page is reached by walking the cursors. */
  fetchAt?: FetchAt<T>;
  /** Pages past the nearest known cursor beyond which a request jumps rather than walks (default 5). */
  jumpAfter?: number;
}

export class Pager<T> {
  readonly pageSize: number;
  private readonly maxPages: number;
  /** cursors[k]: what to pass to fetch page k (undefined for page 0); absent: not known yet. */
  private readonly cursors = new Map<number, string | undefined>([[0, undefined]]);
  private readonly pages = new Map<number, T[]>();
  /** Pages carried over from the previous pager: shown, but fetched again when wanted. */
  private readonly stale = new Set<number>();
  private lastPage: number | null = null;
  /** A jump found no rows at this page: the results (shorter than the count said) end before it. */
  private ceiling = Number.POSITIVE_INFINITY;
  private readonly fetchAt: FetchAt<T> | undefined;
  private readonly jumpAfter: number;
  private want = 0;
  private focus = 0;
  /** Pages wanted ahead of the screen (prefetch): loaded after [focus, want], after a pause. */
  private aheadFirst = 0;
  private aheadLast = -1;
  private running = false;
  private listeners = new Set<() => void>();
  private disposed = false;
  error: string | null = null;

  constructor(private readonly fetchPage: FetchPage<T>, opts: PagerOptions<T> = {}) {
    this.pageSize = opts.pageSize ?? 200;
    this.maxPages = opts.maxPages ?? 30;
    this.fetchAt = opts.fetchAt;
    this.jumpAfter = opts.jumpAfter ?? HOP;
    const prev = opts.previous;
    if (prev && prev.pageSize === this.pageSize) {
      for (const [k, items] of prev.pages) {
        this.pages.set(k, items);
        this.stale.add(k);
      }
      // Keyset cursors stay valid positions after inserts and deletes; the end may have moved.
      for (const [k, c] of prev.cursors) this.cursors.set(k, c);
    }
  }

  /** Rows known to exist so far: exact once the last page was seen. */
  get loadedCount(): number {
    if (this.lastPage !== null) return this.lastPage * this.pageSize + this.lastLength;
    let top = 0;
    for (const k of this.cursors.keys()) top = Math.max(top, k);
    return top * this.pageSize;
  }

  private lastLength = 0;

  /** True once the end of the results was reached. */
  get complete(): boolean {
    return this.lastPage !== null;
  }

  get(index: number): T | undefined {
    return this.pages.get(Math.floor(index / this.pageSize))?.[index % this.pageSize];
  }

  /** Items held in memory now (for tests and the bench). */
  get residentItems(): number {
    let n = 0;
    for (const p of this.pages.values()) n += p.length;
    return n;
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  dispose(): void {
    this.disposed = true;
    this.listeners.clear();
  }

  /**
   * Asks for the rows in [from, to]; loads what is missing in the background. `ahead` rows before
   * and after them are loaded too, once those are in (the direction the user is scrolling).
   */
  request(from: number, to: number, ahead: { before?: number; after?: number } = {}): void {
    const first = Math.max(0, Math.floor(from / this.pageSize));
    const last = Math.max(first, Math.floor(to / this.pageSize));
    this.focus = first;
    this.want = Math.min(last, this.end());
    this.aheadFirst = Math.max(0, Math.floor((from - (ahead.before ?? 0)) / this.pageSize));
    this.aheadLast = Math.min(Math.floor((to + (ahead.after ?? 0)) / this.pageSize), this.end());
    let missing = false;
    for (let k = Math.min(first, this.aheadFirst); k <= Math.max(this.want, this.aheadLast); k++) if (this.needs(k)) missing = true;
    if (missing) void this.run(first);
  }

  /** The last page there can be, as far as is known. */
  private end(): number {
    return Math.min(this.lastPage ?? Number.POSITIVE_INFINITY, this.ceiling - 1);
  }

  /** The nearest page wanted ahead of the screen and missing, or -1. */
  private nextAhead(): number {
    for (let k = this.want + 1; k <= Math.min(this.aheadLast, this.end()); k++) if (this.needs(k)) return k;
    for (let k = this.focus - 1; k >= this.aheadFirst; k--) if (this.needs(k)) return k;
    return -1;
  }

  private async run(first: number): Promise<void> {
    if (this.running) return;
    this.running = true;
    let rested = false;
    try {
      for (;;) {
        if (this.disposed) return;
        // The next page to load: the first missing one in the wanted range whose cursor is known,
        // else the page after the highest known cursor (walking forward towards the range).
        let target = -1;
        for (let k = Math.min(first, this.focus); k <= this.want; k++) {
          if (this.needs(k) && (this.lastPage === null || k <= this.lastPage)) {
            target = k;
            break;
          }
        }
        if (target < 0) {
          // What is on screen is in: the pages ahead, after a pause (and only if the screen still
          // needs nothing when it ends).
          target = this.nextAhead();
          if (target < 0) return;
          if (!rested) {
            rested = true;
            await new Promise((resolve) => setTimeout(resolve, AHEAD_PAUSE_MS));
            continue;
          }
        }
        rested = false;
        let k = target;
        while (!this.cursors.has(k)) k--;
        if (this.fetchAt && target - k > this.jumpAfter) {
          // Far past the known cursors: the page at its row number, and as many pages as the
          // wanted range still needs (up to HOP) in the same request.
          const hop = Math.max(1, Math.min(HOP, this.want - target + 1));
          const page = await this.fetchAt(target * this.pageSize, this.pageSize * hop);
          if (this.disposed) return;
          if (page.items.length === 0 && target > 0) {
            // The results end before this page: ask for nothing past it until the count is renewed.
            this.ceiling = target;
            for (const p of [...this.pages.keys()]) if (p >= target) this.pages.delete(p);
            this.want = Math.min(this.want, target - 1);
          } else {
            this.store(target, hop, page);
          }
        } else {
          const cursor = this.cursors.get(k);
          // Walking towards a page a few ahead, one request brings HOP pages (the catalog's largest
          // page): a walk costs a fifth of the round trips.
          const hop = Math.min(HOP, target - k + 1);
          const page = await this.fetchPage(cursor, this.pageSize * hop);
          if (this.disposed) return;
          this.store(k, hop, page);
        }
        this.evict();
        this.emit();
        first = this.focus;
      }
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
      this.emit();
    } finally {
      this.running = false;
    }
  }

  /** Files a response for `hop` pages from page `k`, and learns the cursor after them or the end. */
  private store(k: number, hop: number, page: PageOf<T>): void {
    const n = page.items.length;
    const filled = page.nextCursor === null ? Math.max(1, Math.ceil(n / this.pageSize)) : hop;
    for (let h = 0; h < filled; h++) {
      this.pages.set(k + h, page.items.slice(h * this.pageSize, (h + 1) * this.pageSize));
      this.stale.delete(k + h);
    }
    if (page.nextCursor === null) {
      this.lastPage = k + filled - 1;
      // Stale pages past the (possibly new) end are gone from the results.
      for (const p of [...this.pages.keys()]) {
        if (p > this.lastPage) {
          this.pages.delete(p);
          this.stale.delete(p);
        }
      }
      this.lastLength = n - (filled - 1) * this.pageSize;
    } else {
      this.cursors.set(k + hop, page.nextCursor);
    }
  }

  private needs(k: number): boolean {
    return !this.pages.has(k) || this.stale.has(k);
  }

  private evict(): void {
    if (this.pages.size <= this.maxPages) return;
    const byDistance = [...this.pages.keys()].sort((a, b) => Math.abs(b - this.focus) - Math.abs(a - this.focus));
    for (const k of byDistance) {
      if (this.pages.size <= this.maxPages) break;
      if ((k >= this.focus && k <= this.want) || (k >= this.aheadFirst && k <= this.aheadLast)) continue;
      this.pages.delete(k);
      this.stale.delete(k);
    }
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }
}
