import type { Migration } from './schema.js';

// Catalog migration 7: which rows were added out of creation order. The full-text index keeps its
// matches in rowid (seq) order, and rows are nearly always added newest-last, so seq order is
// creation order, and a search sorted newest (or oldest) first can read the matches straight from
// the index in rowid order and stop after a page, instead of sorting every match (a common word
// matches 50,000 rows in a million). The exceptions are rows added with an older date than a row
// already there (an import of old images) or whose date or id changed (a repair): those are listed
// in generations_late and merged in by their date (search.ts). All other rows, read in seq order,
// are in creation order: each was newer than every row before it.
// generations_clock holds the newest (created_at, id) ever added, to judge the next row.
// Never edit once shipped (see schema.ts).
export const orderMigration = (version: number): Migration => ({
  version,
  name: 'rows added out of creation order',
  sql: `
    CREATE TABLE generations_late (seq INTEGER PRIMARY KEY);
    CREATE TABLE generations_clock (
      one INTEGER PRIMARY KEY CHECK (one = 1),
      created_at INTEGER NOT NULL,
      id TEXT NOT NULL
    );
    -- A row is late when a row with a smaller seq sorts after it: an older date, or the same
    -- millisecond and a smaller id.
    INSERT INTO generations_late(seq)
      SELECT seq FROM (
        SELECT seq, created_at, id,
          max(created_at) OVER (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before_at,
          max(id) OVER (PARTITION BY created_at ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before_id
        FROM generations)
      WHERE created_at < before_at OR (created_at = before_at AND id < before_id);
    INSERT INTO generations_clock(one, created_at, id)
      SELECT 1, created_at, id FROM generations ORDER BY created_at DESC, id DESC LIMIT 1;

    CREATE TRIGGER generations_order_insert AFTER INSERT ON generations BEGIN
      INSERT INTO generations_late(seq)
        SELECT new.seq WHERE EXISTS (SELECT 1 FROM generations_clock WHERE (created_at, id) > (new.created_at, new.id))
          OR new.seq < (SELECT max(seq) FROM generations);
      INSERT INTO generations_clock(one, created_at, id) VALUES (1, new.created_at, new.id)
        ON CONFLICT(one) DO UPDATE SET created_at = excluded.created_at, id = excluded.id
        WHERE (excluded.created_at, excluded.id) > (generations_clock.created_at, generations_clock.id);
    END;
    -- A changed date or id may put the row anywhere: it is merged by date from then on.
    CREATE TRIGGER generations_order_update AFTER UPDATE OF created_at, id ON generations
      WHEN new.created_at IS NOT old.created_at OR new.id IS NOT old.id BEGIN
      INSERT OR IGNORE INTO generations_late(seq) VALUES (new.seq);
    END;
    -- A deleted row's seq can be handed out again (to a newer row, which is judged afresh).
    CREATE TRIGGER generations_order_delete AFTER DELETE ON generations BEGIN
      DELETE FROM generations_late WHERE seq = old.seq;
    END;
  `,
});
