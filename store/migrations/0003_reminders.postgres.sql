-- The coordinators' board, as 0003_reminders.sqlite.sql, for PostgreSQL:
-- the same tables with the same meaning, kept by plpgsql triggers in the
-- same transaction as the rows they count; /find through pg_trgm instead of
-- FTS5. Also the few SQLite functions the shared queries use.

-- SQLite's json_extract for a top-level key ('$.name'), as text: Sewa's
-- card fields are a JSON object of strings, so this is what SQLite returns.
CREATE FUNCTION json_extract(doc text, path text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (doc::jsonb) ->> substr(path, 3) $$;

-- SQLite's instr: the 1-based position of needle, 0 when absent.
CREATE FUNCTION instr(haystack text, needle text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT strpos(haystack, needle) $$;

-- SQLite's CAST(v AS REAL) of text: the longest leading number, else 0.
-- (Absurdly long numbers are read only in part, where SQLite would give a
-- huge value or infinity.)
CREATE FUNCTION sewa_real(v text) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN v IS NULL THEN NULL ELSE coalesce(
        substring(v from '^\s*([-+]?(?:[0-9]{1,15}(?:\.[0-9]{0,15})?|\.[0-9]{1,15})(?:[eE][-+]?[0-9]{1,2})?)')::double precision, 0) END $$;

-- SQLite's CAST(round(CAST(v AS REAL) * 100) AS INTEGER): hundredths,
-- rounded half away from zero the way SQLite's round does it (x + 0.5,
-- truncated, in floating point).
CREATE FUNCTION sewa_hundredths(v text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN x IS NULL THEN NULL WHEN abs(x) >= 9e18 THEN 0
        WHEN x >= 0 THEN trunc(x + 0.5)::bigint ELSE -trunc(-x + 0.5)::bigint END
        FROM (SELECT sewa_real(v) * 100 AS x) AS r $$;

-- Open cards per flow and stage, and how many of them someone holds.
CREATE TABLE stage_counts (
    flow    TEXT COLLATE "C"  NOT NULL,
    stage   TEXT COLLATE "C"  NOT NULL,
    n_open  BIGINT NOT NULL DEFAULT 0,
    n_held  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (flow, stage)
);
INSERT INTO stage_counts (flow, stage, n_open, n_held)
    SELECT flow, stage, count(*), count(assignee) FROM cards WHERE open = 1 GROUP BY flow, stage;

CREATE FUNCTION stage_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.open = 1 THEN
        UPDATE stage_counts SET n_open = n_open - 1, n_held = n_held - (OLD.assignee IS NOT NULL)::int
            WHERE flow = OLD.flow AND stage = OLD.stage;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.open = 1 THEN
        INSERT INTO stage_counts AS s (flow, stage, n_open, n_held) VALUES (NEW.flow, NEW.stage, 1, (NEW.assignee IS NOT NULL)::int)
            ON CONFLICT (flow, stage) DO UPDATE SET n_open = s.n_open + 1, n_held = s.n_held + excluded.n_held;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER stage_counts_insert AFTER INSERT ON cards FOR EACH ROW WHEN (NEW.open = 1)
    EXECUTE FUNCTION stage_counts_keep();
CREATE TRIGGER stage_counts_delete AFTER DELETE ON cards FOR EACH ROW WHEN (OLD.open = 1)
    EXECUTE FUNCTION stage_counts_keep();
-- SaveCard writes every column each time: count only real changes.
CREATE TRIGGER stage_counts_update AFTER UPDATE OF flow, stage, open, assignee ON cards FOR EACH ROW
    WHEN (OLD.flow IS DISTINCT FROM NEW.flow OR OLD.stage IS DISTINCT FROM NEW.stage OR OLD.open IS DISTINCT FROM NEW.open
        OR (OLD.assignee IS NULL) IS DISTINCT FROM (NEW.assignee IS NULL))
    EXECUTE FUNCTION stage_counts_keep();

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

-- Moves per quarter hour (see the SQLite file): kits in hundredths.
CREATE TABLE move_tally (
    prefix      TEXT COLLATE "C"  NOT NULL,
    bucket      BIGINT NOT NULL,
    from_stage  TEXT COLLATE "C"  NOT NULL,
    to_stage    TEXT COLLATE "C"  NOT NULL,
    n           BIGINT NOT NULL DEFAULT 0,
    kits        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (prefix, bucket, from_stage, to_stage)
);
INSERT INTO move_tally (prefix, bucket, from_stage, to_stage, n, kits)
    SELECT CASE WHEN strpos(e.card_id, '-') > 0 THEN left(e.card_id, strpos(e.card_id, '-') - 1) ELSE '' END, e.at / 900000, e.from_stage, e.to_stage, count(*),
        coalesce(sum(sewa_hundredths(json_extract(c.fields, '$.kits_given'))), 0)
    FROM card_events e LEFT JOIN cards c ON c.id = e.card_id
    WHERE e.from_stage <> e.to_stage
    GROUP BY 1, 2, 3, 4;

CREATE FUNCTION move_tally_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO move_tally AS m (prefix, bucket, from_stage, to_stage, n, kits)
        VALUES (CASE WHEN strpos(NEW.card_id, '-') > 0 THEN left(NEW.card_id, strpos(NEW.card_id, '-') - 1) ELSE '' END,
            NEW.at / 900000, NEW.from_stage, NEW.to_stage, 1,
            coalesce((SELECT sewa_hundredths(json_extract(fields, '$.kits_given')) FROM cards WHERE id = NEW.card_id), 0))
        ON CONFLICT (prefix, bucket, from_stage, to_stage) DO UPDATE SET n = m.n + 1, kits = m.kits + excluded.kits;
    RETURN NULL;
END $$;

CREATE TRIGGER move_tally_insert AFTER INSERT ON card_events FOR EACH ROW WHEN (NEW.from_stage <> NEW.to_stage)
    EXECUTE FUNCTION move_tally_keep();

-- Stock on hand and reserved per item and location: the ledger's sums.
CREATE TABLE stock_levels (
    item      TEXT COLLATE "C"  NOT NULL,
    location  TEXT COLLATE "C"  NOT NULL,
    on_hand   BIGINT NOT NULL DEFAULT 0,
    reserved  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (item, location)
);
INSERT INTO stock_levels (item, location, on_hand, reserved)
    SELECT item, location,
        coalesce(sum(CASE WHEN kind IN ('received', 'adjusted') THEN qty WHEN kind = 'delivered' THEN -qty ELSE 0 END), 0),
        coalesce(sum(CASE WHEN kind = 'reserved' THEN qty WHEN kind IN ('released', 'delivered') THEN -qty ELSE 0 END), 0)
    FROM stock_ledger GROUP BY item, location;

CREATE FUNCTION stock_levels_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stock_levels AS l (item, location, on_hand, reserved) VALUES (NEW.item, NEW.location,
                CASE WHEN NEW.kind IN ('received', 'adjusted') THEN NEW.qty WHEN NEW.kind = 'delivered' THEN -NEW.qty ELSE 0 END,
                CASE WHEN NEW.kind = 'reserved' THEN NEW.qty WHEN NEW.kind IN ('released', 'delivered') THEN -NEW.qty ELSE 0 END)
            ON CONFLICT (item, location) DO UPDATE SET on_hand = l.on_hand + excluded.on_hand, reserved = l.reserved + excluded.reserved;
    ELSE
        UPDATE stock_levels SET
            on_hand = on_hand - CASE WHEN OLD.kind IN ('received', 'adjusted') THEN OLD.qty WHEN OLD.kind = 'delivered' THEN -OLD.qty ELSE 0 END,
            reserved = reserved - CASE WHEN OLD.kind = 'reserved' THEN OLD.qty WHEN OLD.kind IN ('released', 'delivered') THEN -OLD.qty ELSE 0 END
            WHERE item = OLD.item AND location = OLD.location;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER stock_levels_insert AFTER INSERT ON stock_ledger FOR EACH ROW EXECUTE FUNCTION stock_levels_keep();
CREATE TRIGGER stock_levels_delete AFTER DELETE ON stock_ledger FOR EACH ROW EXECUTE FUNCTION stock_levels_keep();

-- A stale-card reminder sent: once per card, per stage entry, per level.
CREATE TABLE reminders (
    card_id           TEXT COLLATE "C"  NOT NULL REFERENCES cards (id),
    stage_entered_at  BIGINT NOT NULL,
    level             TEXT COLLATE "C"  NOT NULL,
    stage             TEXT COLLATE "C"  NOT NULL,
    contact_id        BIGINT,
    sent_at           BIGINT NOT NULL,
    PRIMARY KEY (card_id, stage_entered_at, level)
);

-- The daily digest, once per day (a date in SEWA_TZ).
CREATE TABLE digests (
    day      TEXT COLLATE "C"  PRIMARY KEY,
    sent_at  BIGINT NOT NULL
);

-- /find: the searchable fields of each card, matched by any 3 letters or
-- digits through a trigram index. rowid orders the results as SQLite's
-- FTS5 rowid does: a number made from the card id (R-42: the prefix in
-- base 27, then the number).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE FUNCTION sewa_card_rank(id text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ((coalesce(nullif(ascii(substr(id, 1, 1)), 0) - 64, 0)) * 729
        + coalesce(nullif(ascii(substr(id, 2, 1)), 0) - 64, 0) * 27 * (strpos(id, '-') > 2)::int
        + coalesce(nullif(ascii(substr(id, 3, 1)), 0) - 64, 0) * (strpos(id, '-') > 3)::int)::bigint * 100000000000000
        + coalesce(substring(substr(id, strpos(id, '-') + 1) from '^[0-9]{1,14}')::bigint, 0) $$;

-- The searched fields, in key order, as SQLite's json_each gives them.
CREATE FUNCTION sewa_search_body(fields text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT string_agg(value, ' | ' ORDER BY key COLLATE "C") FROM jsonb_each_text(fields::jsonb)
        WHERE key IN ('name', 'phone', 'address', 'area', 'donor_name', 'donor_phone', 'receipt_name', 'ref', 'counterparty') $$;

CREATE TABLE card_search (
    rowid    BIGINT PRIMARY KEY,
    card_id  TEXT COLLATE "C" NOT NULL,
    body     TEXT
);
CREATE INDEX card_search_body ON card_search USING gin (body gin_trgm_ops);

INSERT INTO card_search (rowid, card_id, body)
    SELECT sewa_card_rank(cards.id), cards.id, sewa_search_body(cards.fields) FROM cards;

CREATE FUNCTION card_search_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM card_search WHERE rowid = sewa_card_rank(OLD.id);
        RETURN NULL;
    END IF;
    -- Only a change of a searched field costs a new index entry.
    IF TG_OP = 'UPDATE' AND sewa_search_body(OLD.fields) IS NOT DISTINCT FROM sewa_search_body(NEW.fields) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM card_search WHERE rowid = sewa_card_rank(OLD.id);
    END IF;
    INSERT INTO card_search (rowid, card_id, body) VALUES (sewa_card_rank(NEW.id), NEW.id, sewa_search_body(NEW.fields));
    RETURN NULL;
END $$;

CREATE TRIGGER card_search_insert AFTER INSERT ON cards FOR EACH ROW EXECUTE FUNCTION card_search_keep();
CREATE TRIGGER card_search_update AFTER UPDATE OF fields ON cards FOR EACH ROW WHEN (OLD.fields IS DISTINCT FROM NEW.fields)
    EXECUTE FUNCTION card_search_keep();
CREATE TRIGGER card_search_delete AFTER DELETE ON cards FOR EACH ROW EXECUTE FUNCTION card_search_keep();
