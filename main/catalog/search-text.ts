import { prepared, type Db } from './db.js';
import { coverIndex } from './facets.js';

// A full-text search sorted newest (or oldest) first, without sorting the matches. FTS5 hands out
// its matches in rowid (seq) order and can stop after a page; seq order is creation order for every
// row but the few added out of order (schema-order.ts lists them in generations_late). So the
// page is a merge of two streams, both already in sort order:
//   A: the matches that are not late, in seq order, read straight from the full-text index;
//   B: the late matches, by (created_at, id), usually none at all.
// A common word ("cat", 50,000 matches in a million) costs a page of index entries and row lookups,
// not a sort of 50,000. The cursor remembers where A stopped (its seq) besides the sort key, so
// the next page starts there. Without text the same merge reads every row in seq order, from the
// narrow covering index: for filters no date index holds (search.ts bySeq).

export interface Position {
  /** The sort key of the last row returned: [created_at, id]. */
  key: unknown[];
  /** The seq where stream A stopped, when known (cursors made by this module). */
  seq?: number;
}

interface Where {
  sql: string;
  params: unknown[];
}

interface Match {
  seq: number;
  at: number;
  id: string;
}

export interface TextPageQuery {
  /** The filters other than the text (search.ts buildWhere). */
  where: Where;
  /** True when the filters read only columns of the narrow index generations_facet_cover. */
  covered: boolean;
  /**
   * The FTS5 query (fts-query.ts), or null to walk every row in seq order instead: for filters
   * that no sort index holds (a resolution, a backend…), the narrow covering index read in seq
   * order costs a few bytes a row where the date index costs a row lookup.
   */
  match: string | null;
  descending: boolean;
  after: Position | undefined;
  /** Rows to skip first (a jump to a row number). */
  at: number;
  /** Rows wanted (a page and one more, to know whether there are more). */
  count: number;
}

/**
 * The seqs of the page, in sort order, and where stream A stopped (for the next cursor; undefined
 * when no row of A was read and the cursor did not say).
 */
export function matchesInIndexOrder(db: Db, q: TextPageQuery): { seqs: number[]; position: number | undefined } {
  const { where, match, descending, after, at, count } = q;
  const anyLate = prepared(db, 'SELECT EXISTS (SELECT 1 FROM generations_late) AS late').get() as { late: number };
  const dir = descending ? 'DESC' : 'ASC';
  const cmp = descending ? '<' : '>';
  // Stream A. CROSS JOIN keeps the full-text index the outer loop, so its rowid order is the
  // query's order and SQLite stops at the LIMIT. Past a cursor, by seq when the cursor knows where
  // A stopped (exact for rows that are not late), else by the sort key.
  const seq = match === null ? 'g.seq' : 'f.rowid';
  const bound = after === undefined ? '' : after.seq !== undefined ? ` AND ${seq} ${cmp} ?` : ` AND (g.created_at, g.id) ${cmp} (?, ?)`;
  const boundParams = after === undefined ? [] : after.seq !== undefined ? [after.seq] : after.key;
  // Alone (no late rows, no key bound), A needs no column outside the filters: checked against the
  // narrow covering index, a match costs a read of a few bytes, not of its whole row.
  const narrow = !anyLate.late && q.covered && !(after !== undefined && after.seq === undefined);
  const columns = `${seq} AS seq${narrow ? '' : ', g.created_at AS at, g.id AS id'}`;
  const streamA =
    match === null
      ? `SELECT ${columns} FROM generations g ${coverIndex(db)}
        WHERE g.seq NOT IN (SELECT seq FROM generations_late)${bound} AND ${where.sql} ORDER BY g.seq ${dir}`
      : `SELECT ${columns} FROM generations_fts f CROSS JOIN generations g ${narrow ? coverIndex(db) : ''} ON g.seq = f.rowid
        WHERE f.generations_fts MATCH ?${bound} AND f.rowid NOT IN (SELECT seq FROM generations_late) AND ${where.sql}
        ORDER BY f.rowid ${dir}`;
  const aParams = [...(match === null ? [] : [match]), ...boundParams, ...where.params];

  if (!anyLate.late) {
    // Nearly every library: stream A alone, and SQLite skips `at` rows along the index itself.
    const rows = prepared(db, `${streamA} LIMIT ? OFFSET ?`).all(...aParams, count, at) as Match[];
    const lastA = rows[Math.min(rows.length, count - 1) - 1];
    return { seqs: rows.map((r) => r.seq), position: lastA?.seq ?? after?.seq };
  }

  // Stream B: the late matches past the cursor's key, sorted (they are few: imports of old images).
  const late = prepared(
    db,
    `SELECT g.seq AS seq, g.created_at AS at, g.id AS id
      FROM generations_late l CROSS JOIN generations g ON g.seq = l.seq
      WHERE ${match === null ? '' : 'g.seq IN (SELECT rowid FROM generations_fts WHERE generations_fts MATCH ?) AND '}${where.sql}${after ? ` AND (g.created_at, g.id) ${cmp} (?, ?)` : ''}
      ORDER BY g.created_at ${dir}, g.id ${dir} LIMIT ?`,
  ).all(...(match === null ? [] : [match]), ...where.params, ...(after ? after.key : []), at + count) as Match[];
  // Merge: A is read row by row and only as far as the page needs.
  const a = prepared(db, streamA).iterate(...aParams) as IterableIterator<Match>;
  const first = (x: Match, y: Match) => (x.at !== y.at ? (descending ? x.at > y.at : x.at < y.at) : descending ? x.id > y.id : x.id < y.id);
  const seqs: number[] = [];
  let position = after?.seq;
  let headA = a.next();
  let b = 0;
  try {
    for (let skipped = 0; seqs.length < count; ) {
      const fromA = !headA.done && (b >= late.length || first(headA.value, late[b]!));
      if (!fromA && b >= late.length) break;
      const row = fromA ? headA.value : late[b++]!;
      // The position A stopped at belongs to the page's last row, not to the look-ahead row.
      if (fromA) {
        if (seqs.length < count - 1 || skipped < at) position = row.seq;
        headA = a.next();
      }
      if (skipped < at) skipped++;
      else seqs.push(row.seq);
    }
  } finally {
    a.return?.();
  }
  return { seqs, position };
}
