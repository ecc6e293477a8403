-- Times are unix milliseconds (INTEGER); card fields and outbox bodies are JSON text.

CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY,
    channel     TEXT    NOT NULL,
    address     TEXT    NOT NULL,
    name        TEXT    NOT NULL DEFAULT '',
    phone       TEXT    NOT NULL DEFAULT '',
    lang        TEXT    NOT NULL DEFAULT '',
    roles       TEXT    NOT NULL DEFAULT '',   -- space-separated: coordinator caller logistics ...
    blocked_at  INTEGER,                       -- the channel said the person blocked us
    created_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    UNIQUE (channel, address)
);
CREATE INDEX contacts_phone ON contacts (phone) WHERE phone <> '';

CREATE TABLE card_seq (
    prefix  TEXT    PRIMARY KEY,
    last    INTEGER NOT NULL
);

CREATE TABLE cards (
    id                TEXT    PRIMARY KEY,      -- R-42
    flow              TEXT    NOT NULL,
    stage             TEXT    NOT NULL,
    open              INTEGER NOT NULL DEFAULT 1,
    fields            TEXT    NOT NULL DEFAULT '{}',
    requester         INTEGER REFERENCES contacts (id),
    assignee          INTEGER REFERENCES contacts (id),
    lease_until       INTEGER,
    priority          INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    stage_entered_at  INTEGER NOT NULL
);
-- The queue of a stage: open cards by priority, then age.
CREATE INDEX cards_queue ON cards (flow, stage, priority DESC, stage_entered_at) WHERE open = 1;
CREATE INDEX cards_requester ON cards (requester) WHERE open = 1;
CREATE INDEX cards_assignee ON cards (assignee) WHERE assignee IS NOT NULL;

CREATE TABLE card_events (
    id          INTEGER PRIMARY KEY,
    card_id     TEXT    NOT NULL REFERENCES cards (id),
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,   -- "tg:123 Asha", "system"
    from_stage  TEXT    NOT NULL DEFAULT '',
    to_stage    TEXT    NOT NULL DEFAULT '',
    what        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX card_events_card ON card_events (card_id, id);

CREATE TABLE sessions (
    contact_id  INTEGER PRIMARY KEY REFERENCES contacts (id),
    state       TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Every inbound message id ever committed: a replay finds its row and does nothing.
CREATE TABLE inbound (
    channel      TEXT    NOT NULL,
    external_id  TEXT    NOT NULL,
    received_at  INTEGER NOT NULL,
    failed       TEXT,              -- set when handling failed; the message is kept here
    body         TEXT,
    PRIMARY KEY (channel, external_id)
);

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    channel      TEXT    NOT NULL,
    address      TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'pending',   -- pending, sent, failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    external_id  TEXT,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    sent_at      INTEGER
);
CREATE INDEX outbox_due ON outbox (channel, next_at, id) WHERE status = 'pending';

CREATE TABLE cursors (
    name   TEXT    PRIMARY KEY,
    value  INTEGER NOT NULL
);

-- Append-only stock ledger: on hand and reserved are sums, so every count is explainable.
CREATE TABLE stock_ledger (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    item      TEXT    NOT NULL,
    location  TEXT    NOT NULL DEFAULT '',
    kind      TEXT    NOT NULL,   -- received, reserved, released, delivered, adjusted
    qty       INTEGER NOT NULL,   -- signed change of on-hand (received, adjusted) or reserved
    card_id   TEXT,
    actor     TEXT    NOT NULL DEFAULT '',
    note      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX stock_ledger_item ON stock_ledger (item, location);
