// The library grid: a virtualized list of fixed-size cells (so nothing shifts when thumbnails
// arrive) over keyset pages of the current query. One focusable listbox with an active descendant:
// arrows move, Enter opens, Space selects, Shift extends, F favourites, Delete trashes.
// Scrolling costs little per frame: the rows on screen sit in a band that the scroll handler moves
// itself (no React render), React renders only when a row enters or leaves, and then only the
// cells that changed (memoized, positioned within the band, keyed by image).
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type DragEvent, type KeyboardEvent, type MouseEvent } from 'react';
import { flushSync } from 'react-dom';
import type { GalleryItem } from '../../../main/contract.js';
import { app, currentQuery, errorText, toast } from '../state/app-state.js';
import { openDetail, setFavorite, trash } from '../state/actions.js';
import { bumpLibrary } from '../state/live.js';
import { studio } from '../state/studio.js';
import { useStore } from '../state/store.js';
import { Pager } from './pager.js';
import { SelectionBar } from './SelectionBar.js';

const GAP = 0;
/**
 * Browsers cap an element's height (Chrome about 33.5 M px, Firefox about 17.9 M px): a million
 * images in rows of 230 px would not fit. Past this height the scroll bar maps onto the rows
 * proportionally, so every row stays reachable (the wheel still moves the rows by its own pixels:
 * see the wheel handler).
 */
const MAX_SCROLL_PX = 15_000_000;
const OVERSCAN_ROWS = 2;
/**
 * Cells are placed relative to a band that starts at a multiple of this many rows (when the rows
 * fit the scroller, at row 0: the band never moves and a cell keeps its place while on screen).
 */
const BAND_ROWS = 512;
/**
 * Faster than this (pixels of rows a second), a cell that comes into view waits for its image
 * until the scrolling slows: nobody sees pictures fly by at this speed, and fetching and decoding
 * a hundred thumbnails a second would take the frames' time.
 */
const FAST_PX_PER_S = 6000;
const SETTLE_MS = 120;
const SPEED_WINDOW_MS = 100;

interface Geometry {
  rows: number;
  cell: number;
  view: number;
  ratio: number;
}

/** The rows to render for a scroll position, the band they sit in and where the band goes. */
function windowAt(scrollTop: number, g: Geometry) {
  const virtualTop = scrollTop * g.ratio;
  const firstRow = Math.max(0, Math.floor(virtualTop / g.cell) - OVERSCAN_ROWS);
  const lastRow = Math.min(g.rows - 1, Math.floor((virtualTop + g.view) / g.cell) + OVERSCAN_ROWS);
  const bandRow = g.ratio === 1 ? 0 : firstRow - (firstRow % BAND_ROWS);
  // The band's top in the scroller: where its first row would be, seen from the scroll position.
  return { virtualTop, firstRow, lastRow, bandRow, bandTop: scrollTop + bandRow * g.cell - virtualTop };
}

function useElementSize(ref: React.RefObject<HTMLElement | null>): { w: number; h: number } {
  const [size, setSize] = useState({ w: 0, h: 0 });
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const read = () => setSize((s) => (s.w === el.clientWidth && s.h === el.clientHeight ? s : { w: el.clientWidth, h: el.clientHeight }));
    read();
    const ro = new ResizeObserver(read);
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref]);
  return size;
}

export function Gallery() {
  const scope = useStore(app, (s) => s.scope);
  const filters = useStore(app, (s) => s.filters);
  const text = useStore(app, (s) => s.text);
  const sort = useStore(app, (s) => s.sort);
  const version = useStore(app, (s) => s.libraryVersion);
  const selection = useStore(app, (s) => s.selection);
  const active = useStore(app, (s) => s.activeIndex);
  const query = useMemo(() => currentQuery({ scope, filters, text, sort }), [scope, filters, text, sort]);
  const queryKey = JSON.stringify(query);

  const [thumb, setThumb] = useState(() => Number(localStorage.getItem('schnell.thumb') ?? 0) || (window.innerWidth >= 2000 ? 256 : 184));
  const [total, setTotal] = useState<number | null>(null);
  const [, setTick] = useState(0);
  const [dragging, setDragging] = useState(false);
  const scrollRef = useRef<HTMLDivElement>(null);
  const bandRef = useRef<HTMLDivElement>(null);
  const { w: width, h: viewH } = useElementSize(scrollRef);
  // The scroll position lives outside React state: a frame of scrolling must not render the grid.
  const scrollTopRef = useRef(0);
  const anchor = useRef<number | null>(null);

  // A new pager for each query; a library change re-reads the same query (keeping the scroll, and
  // showing the old pages until the new ones arrive, so cells never blank and keys keep working).
  const lastPager = useRef<{ key: string; pager: Pager<GalleryItem> } | null>(null);
  const pager = useMemo(() => {
    const previous = lastPager.current?.key === queryKey ? lastPager.current.pager : undefined;
    const p = new Pager<GalleryItem>((cursor, limit) => studio.call('library.search', { ...query, ...(cursor ? { cursor } : {}), limit }), {
      pageSize: 200,
      maxPages: 24,
      // A far jump (the scroll bar dragged, End) asks for the page at its row number.
      fetchAt: (at, limit) => studio.call('library.search', { ...query, at, limit }),
      ...(previous ? { previous } : {}),
    });
    lastPager.current = { key: queryKey, pager: p };
    return p;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [queryKey, version]);
  useEffect(() => {
    const off = pager.onChange(() => setTick((t) => t + 1));
    return () => {
      off();
      pager.dispose();
    };
  }, [pager]);

  // Back from the detail view (or a dialog), the keyboard continues in the grid.
  useEffect(() => {
    if (document.activeElement === document.body || document.activeElement === null) scrollRef.current?.focus();
  }, []);

  // A new query starts at the top: already in this render (the rows asked for are the first
  // ones, not those at the old query's scroll position), and in the scroller before it paints.
  const scrolledQuery = useRef(queryKey);
  if (scrolledQuery.current !== queryKey) {
    scrolledQuery.current = queryKey;
    scrollTopRef.current = 0;
  }
  useLayoutEffect(() => {
    if (scrollRef.current) scrollRef.current.scrollTop = 0;
  }, [queryKey]);
  useEffect(() => {
    app.set({ activeIndex: 0 });
  }, [queryKey]);

  const cols = Math.max(1, Math.floor((width || 800) / thumb));
  const cell = Math.floor((width || 800) / cols);
  const count = pager.complete ? pager.loadedCount : Math.max(total ?? 0, pager.loadedCount);
  const rows = Math.ceil(count / cols);

  // The rows on screen, from the scroll position mapped onto the (possibly taller) list of rows.
  const view = Math.max(1, viewH || 600);
  const real = rows * cell;
  const shown = Math.min(real, MAX_SCROLL_PX);
  const ratio = real > shown && shown > view ? (real - view) / (shown - view) : 1;
  const geometry = useRef<Geometry>({ rows, cell, view, ratio });
  geometry.current = { rows, cell, view, ratio };
  const win = windowAt(scrollTopRef.current, geometry.current);
  const { firstRow, lastRow, bandRow } = win;
  const rendered = useRef({ firstRow, lastRow, bandRow });
  rendered.current = { firstRow, lastRow, bandRow };
  // The band follows the scroll position: here after a render, in onScroll between renders.
  useLayoutEffect(() => {
    if (bandRef.current) bandRef.current.style.transform = `translateY(${win.bandTop}px)`;
  });

  const scrollToRow = useCallback((row: number) => {
    const el = scrollRef.current;
    const g = geometry.current;
    if (!el) return;
    const top = row * g.cell;
    let vt = el.scrollTop * g.ratio;
    if (top < vt) vt = top;
    else if (top + g.cell > vt + g.view) vt = top + g.cell - g.view;
    else return;
    el.scrollTop = vt / g.ratio;
  }, []);

  // Past MAX_SCROLL_PX a pixel of scroll bar is several of rows: the wheel (and a touchpad) would
  // then move the rows that much faster than in a smaller library. Wheel steps move the rows by
  // their own pixels instead; the scroll bar still spans the whole library.
  useEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    let expected = -1;
    let exact = 0;
    const onWheel = (e: WheelEvent) => {
      const g = geometry.current;
      if (g.ratio <= 1 || e.ctrlKey || e.deltaY === 0 || Math.abs(e.deltaX) > Math.abs(e.deltaY)) return;
      e.preventDefault();
      const px = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaMode === 2 ? e.deltaY * g.view : e.deltaY;
      // Keep the fraction the scroller rounds away, unless something else moved it meanwhile.
      if (Math.abs(el.scrollTop - expected) >= 1) exact = el.scrollTop;
      exact = Math.max(0, Math.min(el.scrollHeight - el.clientHeight, exact + px / g.ratio));
      el.scrollTop = exact;
      expected = el.scrollTop;
    };
    el.addEventListener('wheel', onWheel, { passive: false });
    return () => el.removeEventListener('wheel', onWheel);
  }, []);

  const [, setFrame] = useState(0);
  // Fast scrolling (see FAST_PX_PER_S): new cells show their image once it settles.
  const [fast, setFast] = useState(false);
  // Speed over the last SPEED_WINDOW_MS of scroll events: one late frame followed by a quick one
  // is not a fling.
  const motion = useRef({ samples: [] as { top: number; at: number }[], timer: 0 });
  useEffect(() => () => clearTimeout(motion.current.timer), []);
  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    scrollTopRef.current = el.scrollTop;
    const w = windowAt(el.scrollTop, geometry.current);
    const r = rendered.current;
    const m = motion.current;
    const now = performance.now();
    m.samples.push({ top: w.virtualTop, at: now });
    while (m.samples.length > 2 && now - m.samples[1]!.at >= SPEED_WINDOW_MS) m.samples.shift();
    const oldest = m.samples[0]!;
    const speed = (Math.abs(w.virtualTop - oldest.top) / Math.max(SPEED_WINDOW_MS / 2, now - oldest.at)) * 1000;
    clearTimeout(m.timer);
    m.timer = window.setTimeout(() => {
      m.samples.length = 0;
      setFast(false);
    }, SETTLE_MS);
    // Fast above FAST_PX_PER_S; slow again below two thirds of it, or when the scrolling stops.
    const goFast = speed > FAST_PX_PER_S && !fast;
    const goSlow = speed < (FAST_PX_PER_S * 2) / 3 && fast;
    if (goFast || goSlow || w.firstRow !== r.firstRow || w.lastRow !== r.lastRow || w.bandRow !== r.bandRow) {
      // A row came into view: render now, inside this frame, so no blank row is painted.
      flushSync(() => {
        if (goFast || goSlow) setFast(goFast);
        setFrame((f) => f + 1);
      });
    } else if (bandRef.current) {
      bandRef.current.style.transform = `translateY(${w.bandTop}px)`;
    }
  };
  // The page requests first: the count (facets) can wait behind them, the images cannot. A page
  // (200 rows) ahead in the direction of scrolling is asked for too, so it is there when needed.
  const lastFirstRow = useRef(0);
  useEffect(() => {
    const up = firstRow < lastFirstRow.current;
    lastFirstRow.current = firstRow;
    pager.request(firstRow * cols, (lastRow + 1) * cols + cols * 4, up ? { before: pager.pageSize } : { after: pager.pageSize });
  }, [pager, firstRow, lastRow, cols, count]);

  const totalKey = useRef(queryKey);
  useEffect(() => {
    let live = true;
    // A new query's count is unknown until it arrives (a library change keeps the old one meanwhile).
    if (totalKey.current !== queryKey) {
      totalKey.current = queryKey;
      setTotal(null);
    }
    const { cursor: _c, at: _a, limit: _l, sort: _s, ...facetQuery } = query;
    studio
      .call('library.facets', facetQuery)
      .then((f) => live && setTotal(f.total))
      .catch((err) => live && toast(`Could not count the images: ${errorText(err)}`, { kind: 'error' }));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [queryKey, version]);

  const itemAt = (i: number) => pager.get(i);

  const moveTo = useCallback(
    (i: number, extend: boolean) => {
      const n = Math.max(0, Math.min(count - 1, i));
      app.set((s) => {
        if (!extend) return { activeIndex: n };
        const from = anchor.current ?? s.activeIndex;
        const ids = new Set(s.selection);
        for (let k = Math.min(from, n); k <= Math.max(from, n); k++) {
          const it = pager.get(k);
          if (it) ids.add(it.id);
        }
        return { activeIndex: n, selection: ids };
      });
      scrollToRow(Math.floor(n / cols));
    },
    [count, cols, pager, scrollToRow],
  );

  function onKeyDown(e: KeyboardEvent<HTMLDivElement>) {
    const page = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? cell) / cell)) * cols;
    const moves: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols, PageDown: page, PageUp: -page };
    if (e.key in moves) {
      e.preventDefault();
      if (!e.shiftKey) anchor.current = null;
      else if (anchor.current === null) anchor.current = active;
      moveTo(active + moves[e.key]!, e.shiftKey);
      return;
    }
    if (e.key === 'Home' || e.key === 'End') {
      e.preventDefault();
      moveTo(e.key === 'Home' ? 0 : count - 1, e.shiftKey);
      return;
    }
    const it = itemAt(active);
    if (e.key === 'Enter' && it) {
      e.preventDefault();
      openDetail(it.id);
    } else if (e.key === ' ' && it) {
      e.preventDefault();
      app.set((s) => {
        const ids = new Set(s.selection);
        if (ids.has(it.id)) ids.delete(it.id);
        else ids.add(it.id);
        return { selection: ids };
      });
      anchor.current = active;
    } else if ((e.key === 'a' || e.key === 'A') && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      const ids = new Set<string>();
      for (let k = 0; k < count; k++) {
        const x = pager.get(k);
        if (x) ids.add(x.id);
      }
      app.set({ selection: ids });
    } else if (e.key === 'Escape') {
      app.set({ selection: new Set() });
    } else if ((e.key === 'f' || e.key === 'F') && !e.ctrlKey && !e.metaKey && it) {
      e.preventDefault();
      const ids = selection.size ? [...selection] : [it.id];
      void setFavorite(ids, !it.favorite);
    } else if ((e.key === 'Delete' || e.key === 'Backspace') && it && scope.kind !== 'trash') {
      e.preventDefault();
      void trash(selection.size ? [...selection] : [it.id]);
    }
  }

  function cellClicked(e: MouseEvent, i: number, it: GalleryItem | undefined) {
    if (!it) return;
    if (e.shiftKey) {
      if (anchor.current === null) anchor.current = active;
      moveTo(i, true);
      return;
    }
    anchor.current = i;
    app.set((s) => {
      if (e.ctrlKey || e.metaKey) {
        const ids = new Set(s.selection);
        if (ids.has(it.id)) ids.delete(it.id);
        else ids.add(it.id);
        return { activeIndex: i, selection: ids };
      }
      return { activeIndex: i, selection: new Set([it.id]) };
    });
  }

  async function onDrop(e: DragEvent) {
    e.preventDefault();
    setDragging(false);
    const files = [...e.dataTransfer.files].filter((f) => /\.(png|jpe?g|webp)$/i.test(f.name) || f.type.startsWith('image/'));
    if (!files.length) {
      toast('Drop PNG or JPEG images to import them with their parameters.');
      return;
    }
    const project = scope.kind === 'project' ? scope.name : undefined;
    let imported = 0;
    const problems: string[] = [];
    try {
      if (studio.desktop) {
        const paths = files.map((f) => studio.desktop!.pathForFile(f));
        const r = await studio.call('library.importPaths', { paths, ...(project ? { project } : {}) });
        imported += r.imported.length;
        problems.push(...r.failed.map((f) => `${f.file}: ${f.error}`), ...r.skipped.map((f) => `${f.file}: ${f.reason}`));
      } else {
        for (const f of files) {
          const dataBase64 = await toBase64(f);
          const r = await studio.call('library.importFile', { fileName: f.name, dataBase64, ...(project ? { project } : {}) });
          imported += r.imported.length;
          problems.push(...r.failed.map((x) => `${f.name}: ${x.error}`), ...r.skipped.map((x) => `${f.name}: ${x.reason}`));
        }
      }
    } catch (err) {
      problems.push(errorText(err));
    }
    bumpLibrary();
    toast(`Imported ${imported} of ${files.length} image${files.length === 1 ? '' : 's'}.${problems.length ? ` ${problems[0]}` : ''}`, {
      kind: problems.length ? 'error' : 'info',
    });
  }

  // One function for every cell across renders (memoized cells compare it), calling the latest.
  const clickRef = useRef(cellClicked);
  clickRef.current = cellClicked;
  const onCellClick = useCallback((e: MouseEvent, i: number, it: GalleryItem | undefined) => clickRef.current(e, i, it), []);

  const activeItem = itemAt(active);
  const label = scope.kind === 'trash' ? 'Trash' : scope.kind === 'favorites' ? 'Favourites' : scope.kind === 'project' ? scope.name : 'All images';

  return (
    <section
      className="fill"
      aria-label="Gallery"
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes('Files')) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={(e) => {
        if (e.currentTarget === e.target) setDragging(false);
      }}
      onDrop={onDrop}
    >
      <div className="gallery-bar">
        <h1 className="visually-hidden">{label}</h1>
        <span aria-live="polite" data-testid="result-count">
          {label} · {count.toLocaleString()} image{count === 1 ? '' : 's'}
          {text.trim() ? ` matching “${text.trim()}”` : ''}
        </span>
        <span className="spacer" />
        <SelectionBar />
        <label className="row hint">
          <span>Size</span>
          <input
            type="range"
            className="range"
            aria-label="Thumbnail size"
            min={96}
            max={384}
            step={8}
            value={thumb}
            onChange={(e) => {
              setThumb(Number(e.target.value));
              localStorage.setItem('schnell.thumb', e.target.value);
            }}
          />
        </label>
      </div>
      {pager.error && <p className="pane-error" role="alert">Could not load the images: {pager.error}</p>}
      {count === 0 && total !== null && pager.complete ? (
        <div className="empty">
          <h2>{text.trim() || Object.keys(filters).length ? 'Nothing matches' : scope.kind === 'trash' ? 'The trash is empty' : 'No images yet'}</h2>
          <p>
            {text.trim() || Object.keys(filters).length
              ? 'Try fewer words or clear a filter.'
              : 'Write a prompt on the right and press Generate, or drop images here to import them with their parameters.'}
          </p>
        </div>
      ) : null}
      <div
        ref={scrollRef}
        className="gallery-scroll"
        role="listbox"
        aria-label="Images"
        aria-multiselectable="true"
        tabIndex={0}
        aria-activedescendant={activeItem ? `cell-${activeItem.id}` : undefined}
        onKeyDown={onKeyDown}
        onScroll={onScroll}
        data-testid="gallery"
      >
        <div className="gallery-sizer" role="presentation" style={{ height: shown }}>
          <div ref={bandRef} className="gallery-band" role="presentation">
          {Array.from({ length: Math.max(0, lastRow - firstRow + 1) }, (_, k) => firstRow + k).flatMap((row) => {
            const out = [];
            const y = (row - bandRow) * cell;
            for (let c = 0; c < cols; c++) {
              const i = row * cols + c;
              if (i >= count) break;
              const it = itemAt(i);
              out.push(
                <Cell
                  key={it ? it.id : `p${i}`}
                  index={i}
                  item={it}
                  x={c * cell}
                  y={y}
                  size={cell - GAP}
                  selected={it ? selection.has(it.id) : false}
                  active={i === active}
                  fast={fast}
                  onClick={onCellClick}
                />,
              );
            }
            return out;
          })}
          </div>
        </div>
      </div>
      {dragging && <div className="drop-veil">Drop images to import them with their parameters</div>}
    </section>
  );
}

interface CellProps {
  index: number;
  item: GalleryItem | undefined;
  x: number;
  y: number;
  size: number;
  selected: boolean;
  active: boolean;
  /** Scrolling fast: a cell that appears now waits for its image until it is over. */
  fast: boolean;
  onClick: (e: MouseEvent, i: number, it: GalleryItem | undefined) => void;
}

/**
 * React sets `style` through the CSSOM, which a CSP without 'unsafe-inline' styles allows.
 * Memoized: while scrolling, a cell that stays in the band keeps every prop and is not rendered.
 */
const Cell = memo(function Cell({ index, item, x, y, size, selected, active, fast, onClick }: CellProps) {
  const style = { transform: `translate(${x}px, ${y}px)`, width: size, height: size };
  const [withImage, setWithImage] = useState(!fast);
  useEffect(() => {
    if (!fast) setWithImage(true);
  }, [fast]);
  if (!item) return <div style={style} className="cell placeholder" role="presentation" aria-hidden="true"><div className="cell-inner" /></div>;
  const untrained = /untrained/i.test(item.model);
  const name = [
    item.prompt.slice(0, 80) || 'Untitled',
    `${item.width}×${item.height}`,
    `seed ${item.seed ?? 'unknown'}`,
    ...(item.favorite ? ['favourite'] : []),
    ...(item.backend === 'cloud' ? ['cloud'] : []),
    ...(item.fallbackReason ? ['fallback'] : []),
    ...(untrained ? ['untrained'] : []),
  ].join(', ');
  return (
    <div
      style={style}
      id={`cell-${item.id}`}
      className={`cell${active ? ' active' : ''}`}
      role="option"
      aria-selected={selected}
      aria-label={name}
      data-index={index}
      onClick={(e) => onClick(e, index, item)}
      onDoubleClick={() => openDetail(item.id)}
    >
      <div className="cell-inner">
        {withImage && <img src={item.thumbnailUrl} alt="" width={256} height={Math.round((256 * item.height) / item.width)} decoding="async" draggable={false} />}
        <div className="cell-badges" aria-hidden="true">
          {item.favorite && <span className="badge fav" aria-hidden="true">★</span>}
          {item.backend === 'cloud' && <span className="badge">cloud</span>}
          {item.fallbackReason && <span className="badge warn">fallback</span>}
          {untrained && <span className="badge warn">untrained</span>}
        </div>
      </div>
    </div>
  );
});

function toBase64(f: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
    r.onerror = () => reject(new Error(`could not read ${f.name}`));
    r.readAsDataURL(f);
  });
}
