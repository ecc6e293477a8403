-- The coordinators' board: aggregates kept by triggers in the same
-- transaction as the rows they count, so /status reads a few small tables and
-- indexes instead of scanning cards; stale-card reminders sent, so none is
-- sent twice; digests sent, one per day; and a search index for /find.
-- SQLite (triggers and FTS5); 0003_reminders.postgres.sql is the same for PostgreSQL.

-- Open cards per flow and stage, and how many of them someone holds.
CREATE TABLE stage_counts (
    flow    TEXT    NOT NULL,
    stage   TEXT    NOT NULL,
    n_open  INTEGER NOT NULL DEFAULT 0,
    n_held  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (flow, stage)
);
INSERT INTO stage_counts (flow, stage, n_open, n_held)
    SELECT flow, stage, count(*), count(assignee) FROM cards WHERE open = 1 GROUP BY flow, stage;

CREATE TRIGGER stage_counts_insert AFTER INSERT ON cards WHEN new.open = 1
BEGIN
    INSERT INTO stage_counts (flow, stage, n_open, n_held) VALUES (new.flow, new.stage, 1, new.assignee IS NOT NULL)
        ON CONFLICT (flow, stage) DO UPDATE SET n_open = n_open + 1, n_held = n_held + (new.assignee IS NOT NULL);
END;

CREATE TRIGGER stage_counts_delete AFTER DELETE ON cards WHEN old.open = 1
BEGIN
    UPDATE stage_counts SET n_open = n_open - 1, n_held = n_held - (old.assignee IS NOT NULL)
        WHERE flow = old.flow AND stage = old.stage;
END;

-- SaveCard writes every column each time: count only real changes.
CREATE TRIGGER stage_counts_update AFTER UPDATE OF flow, stage, open, assignee ON cards
    WHEN old.flow IS NOT new.flow OR old.stage IS NOT new.stage OR old.open IS NOT new.open
        OR (old.assignee IS NULL) IS NOT (new.assignee IS NULL)
BEGIN
    UPDATE stage_counts SET n_open = n_open - 1, n_held = n_held - (old.assignee IS NOT NULL)
        WHERE old.open = 1 AND flow = old.flow AND stage = old.stage;
    INSERT INTO stage_counts (flow, stage, n_open, n_held)
        SELECT new.flow, new.stage, 1, new.assignee IS NOT NULL WHERE new.open = 1
        ON CONFLICT (flow, stage) DO UPDATE SET n_open = n_open + 1, n_held = n_held + (new.assignee IS NOT NULL);
END;

-- The oldest card of a stage and the stale ones (entered before now - stale_after).
CREATE INDEX cards_stage_age ON cards (flow, stage, stage_entered_at, id) WHERE open = 1;
-- Cards received per day.
CREATE INDEX cards_flow_created ON cards (flow, created_at);
-- Who acted on cards in a day (the digest's volunteers active).
CREATE INDEX card_events_at ON card_events (at);
-- Volunteers seen per day: only contacts with roles, a few hundred.
CREATE INDEX contacts_workers ON contacts (last_seen) WHERE roles <> '';
-- Channel health: the last update received, failures of the last day.
CREATE INDEX inbound_received ON inbound (channel, received_at);
CREATE INDEX outbox_failed ON outbox (channel, created_at) WHERE status = 'failed';

-- Moves per quarter hour (a day in any time zone is a whole number of
-- them): validated, delivered and kits handed over today are a sum over at
-- most 96 buckets, however many events there are. kits is the moved cards'
-- kits_given field, in hundredths, as it was when they moved.
CREATE TABLE move_tally (
    prefix      TEXT    NOT NULL,   -- of the card id: R
    bucket      INTEGER NOT NULL,   -- unix milliseconds / 900000
    from_stage  TEXT    NOT NULL,   -- '' for a card created into to_stage
    to_stage    TEXT    NOT NULL,
    n           INTEGER NOT NULL DEFAULT 0,
    kits        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (prefix, bucket, from_stage, to_stage)
) WITHOUT ROWID;
INSERT INTO move_tally (prefix, bucket, from_stage, to_stage, n, kits)
    SELECT substr(e.card_id, 1, instr(e.card_id, '-') - 1), e.at / 900000, e.from_stage, e.to_stage, count(*),
        coalesce(sum(CAST(round(CAST(json_extract(c.fields, '$.kits_given') AS REAL) * 100) AS INTEGER)), 0)
    FROM card_events e LEFT JOIN cards c ON c.id = e.card_id
    WHERE e.from_stage <> e.to_stage
    GROUP BY 1, 2, 3, 4;

CREATE TRIGGER move_tally_insert AFTER INSERT ON card_events WHEN new.from_stage <> new.to_stage
BEGIN
    INSERT INTO move_tally (prefix, bucket, from_stage, to_stage, n, kits)
        VALUES (substr(new.card_id, 1, instr(new.card_id, '-') - 1), new.at / 900000, new.from_stage, new.to_stage, 1,
            coalesce((SELECT CAST(round(CAST(json_extract(fields, '$.kits_given') AS REAL) * 100) AS INTEGER) FROM cards WHERE id = new.card_id), 0))
        ON CONFLICT (prefix, bucket, from_stage, to_stage) DO UPDATE SET n = n + 1, kits = kits + excluded.kits;
END;

-- Stock on hand and reserved per item and location: the ledger's sums,
-- kept as the ledger grows (the same arithmetic as Tx.Stock).
CREATE TABLE stock_levels (
    item      TEXT    NOT NULL,
    location  TEXT    NOT NULL,
    on_hand   INTEGER NOT NULL DEFAULT 0,
    reserved  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (item, location)
);
INSERT INTO stock_levels (item, location, on_hand, reserved)
    SELECT item, location,
        coalesce(sum(CASE WHEN kind IN ('received', 'adjusted') THEN qty WHEN kind = 'delivered' THEN -qty ELSE 0 END), 0),
        coalesce(sum(CASE WHEN kind = 'reserved' THEN qty WHEN kind IN ('released', 'delivered') THEN -qty ELSE 0 END), 0)
    FROM stock_ledger GROUP BY item, location;

CREATE TRIGGER stock_levels_insert AFTER INSERT ON stock_ledger
BEGIN
    INSERT INTO stock_levels (item, location, on_hand, reserved) VALUES (new.item, new.location,
            CASE WHEN new.kind IN ('received', 'adjusted') THEN new.qty WHEN new.kind = 'delivered' THEN -new.qty ELSE 0 END,
            CASE WHEN new.kind = 'reserved' THEN new.qty WHEN new.kind IN ('released', 'delivered') THEN -new.qty ELSE 0 END)
        ON CONFLICT (item, location) DO UPDATE SET on_hand = on_hand + excluded.on_hand, reserved = reserved + excluded.reserved;
END;

CREATE TRIGGER stock_levels_delete AFTER DELETE ON stock_ledger
BEGIN
    UPDATE stock_levels SET
        on_hand = on_hand - CASE WHEN old.kind IN ('received', 'adjusted') THEN old.qty WHEN old.kind = 'delivered' THEN -old.qty ELSE 0 END,
        reserved = reserved - CASE WHEN old.kind = 'reserved' THEN old.qty WHEN old.kind IN ('released', 'delivered') THEN -old.qty ELSE 0 END
        WHERE item = old.item AND location = old.location;
END;

-- A stale-card reminder sent: once per card, per stage entry, per level
-- (holder, coordinators). Written in the same transaction as its outbox rows,
-- so a restart or a second process never sends it again.
CREATE TABLE reminders (
    card_id           TEXT    NOT NULL REFERENCES cards (id),
    stage_entered_at  INTEGER NOT NULL,
    level             TEXT    NOT NULL,   -- holder, coordinators
    stage             TEXT    NOT NULL,
    contact_id        INTEGER,            -- the holder reminded
    sent_at           INTEGER NOT NULL,
    PRIMARY KEY (card_id, stage_entered_at, level)
);

-- The daily digest, once per day (a date in SEWA_TZ).
CREATE TABLE digests (
    day      TEXT    PRIMARY KEY,   -- 2026-04-02
    sent_at  INTEGER NOT NULL
);

-- /find: the searchable fields of each card (names, phones, places,
-- references), as trigrams so any 3 letters or digits of them match. Its
-- rowid is a number made from the card id (R-42: the prefix in base 27, then
-- the number), not the cards table's rowid, which VACUUM may renumber.
CREATE VIRTUAL TABLE card_search USING fts5 (card_id UNINDEXED, body, tokenize = 'trigram');

INSERT INTO card_search (rowid, card_id, body)
    SELECT ((unicode(substr(cards.id, 1, 1)) - 64) * 729 + coalesce(unicode(substr(cards.id, 2, 1)) - 64, 0) * 27 * (instr(cards.id, '-') > 2)
        + coalesce(unicode(substr(cards.id, 3, 1)) - 64, 0) * (instr(cards.id, '-') > 3)) * 100000000000000 + CAST(substr(cards.id, instr(cards.id, '-') + 1) AS INTEGER),
        cards.id, (SELECT group_concat(value, ' | ') FROM json_each(cards.fields)
        WHERE key IN ('name', 'phone', 'address', 'area', 'donor_name', 'donor_phone', 'receipt_name', 'ref', 'counterparty'))
    FROM cards;

CREATE TRIGGER card_search_insert AFTER INSERT ON cards
BEGIN
    INSERT INTO card_search (rowid, card_id, body) VALUES (((unicode(substr(new.id, 1, 1)) - 64) * 729 + coalesce(unicode(substr(new.id, 2, 1)) - 64, 0) * 27 * (instr(new.id, '-') > 2)
        + coalesce(unicode(substr(new.id, 3, 1)) - 64, 0) * (instr(new.id, '-') > 3)) * 100000000000000 + CAST(substr(new.id, instr(new.id, '-') + 1) AS INTEGER),
        new.id, (SELECT group_concat(value, ' | ') FROM json_each(new.fields)
        WHERE key IN ('name', 'phone', 'address', 'area', 'donor_name', 'donor_phone', 'receipt_name', 'ref', 'counterparty')));
END;

-- Only a change of a searched field costs a new index entry.
CREATE TRIGGER card_search_update AFTER UPDATE OF fields ON cards
    WHEN old.fields IS NOT new.fields AND (SELECT group_concat(value, ' | ') FROM json_each(old.fields)
        WHERE key IN ('name', 'phone', 'address', 'area', 'donor_name', 'donor_phone', 'receipt_name', 'ref', 'counterparty'))
        IS NOT (SELECT group_concat(value, ' | ') FROM json_each(new.fields)
        WHERE key IN ('name', 'phone', 'address', 'area', 'donor_name', 'donor_phone', 'receipt_name', 'ref', 'counterparty'))
BEGIN
    DELETE FROM card_search WHERE rowid = ((unicode(substr(old.id, 1, 1)) - 64) * 729 + coalesce(unicode(substr(old.id, 2, 1)) - 64, 0) * 27 * (instr(old.id, '-') > 2)
        + coalesce(unicode(substr(old.id, 3, 1)) - 64, 0) * (instr(old.id, '-') > 3)) * 100000000000000 + CAST(substr(old.id, instr(old.id, '-') + 1) AS INTEGER);
    INSERT INTO card_search (rowid, card_id, body) VALUES (((unicode(substr(new.id, 1, 1)) - 64) * 729 + coalesce(unicode(substr(new.id, 2, 1)) - 64, 0) * 27 * (instr(new.id, '-') > 2)
        + coalesce(unicode(substr(new.id, 3, 1)) - 64, 0) * (instr(new.id, '-') > 3)) * 100000000000000 + CAST(substr(new.id, instr(new.id, '-') + 1) AS INTEGER),
        new.id, (SELECT group_concat(value, ' | ') FROM json_each(new.fields)
        WHERE key IN ('name', 'phone', 'address', 'area', 'donor_name', 'donor_phone', 'receipt_name', 'ref', 'counterparty')));
END;

CREATE TRIGGER card_search_delete AFTER DELETE ON cards
BEGIN
    DELETE FROM card_search WHERE rowid = ((unicode(substr(old.id, 1, 1)) - 64) * 729 + coalesce(unicode(substr(old.id, 2, 1)) - 64, 0) * 27 * (instr(old.id, '-') > 2)
        + coalesce(unicode(substr(old.id, 3, 1)) - 64, 0) * (instr(old.id, '-') > 3)) * 100000000000000 + CAST(substr(old.id, instr(old.id, '-') + 1) AS INTEGER);
END;
